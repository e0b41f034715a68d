"""The feed ``events_since`` filtered by event type, over real RabbitMQ: a consumer of a few types pages through
only those, and its cursor moves past everything else, so it reaches the head."""
import pytest

from shared import contracts
from shared.errors import ValidationError
from shared.signing import Signer
from shared.testing import TEST_SIGNING_KEY, fake_source, rpc_proxy, running, service_config

# The project service's own types, in the order emitted: the consumer asks for two of them.
EMITTED = ["ProjectCreated", "TaskAdded", "MemberAssigned", "TaskAdded", "TaskAdded", "MemberAssigned",
           "ProjectUpdated", "TaskClosed", "TaskClosed", "TaskClosed"]
WANTED = ["ProjectCreated", "MemberAssigned"]


@pytest.fixture
def config(isolated_amqp_uri, tmp_path):
    return service_config(isolated_amqp_uri, tmp_path)


def emit_all(rpc):
    registry = contracts.producers()["project"]
    return [rpc.project.emit(stream="project-p1", type=t,
                             data=contracts.example("project", registry, t, registry.current_version(t))["data"])
            for t in EMITTED]


def test_a_filtered_feed_serves_only_those_types_and_its_cursor_passes_the_rest(config):
    with running(config, fake_source("project")), rpc_proxy(config) as rpc:
        emitted = emit_all(rpc)
        head = emitted[-1]["position"]
        pages, position = [], 0
        while position < head:
            assert len(pages) < len(EMITTED), "the cursor must move on every page"
            page = rpc.project.events_since(position=position, limit=1, types=WANTED)
            assert page["head"] == head and page["next_position"] > position
            pages.append(page)
            position = page["next_position"]

    served = [e for page in pages for e in page["events"]]
    assert [e["id"] for e in served] == [e["id"] for e in emitted if e["type"] in WANTED]
    assert all(len(page["events"]) <= 1 for page in pages)
    assert all(Signer(TEST_SIGNING_KEY).verify(e) for e in served)
    # one page per wanted event: the last one's cursor also passes the trailing events nobody asked for
    assert len(pages) == 3 and pages[-1]["next_position"] == head > served[-1]["position"]


def test_a_filtered_page_holds_up_to_limit_events_and_resumes_after_the_last_one_served(config):
    with running(config, fake_source("project")), rpc_proxy(config) as rpc:
        emitted = emit_all(rpc)
        tasks = [e for e in emitted if e["type"] in ("TaskAdded", "TaskClosed")]
        first = rpc.project.events_since(position=0, limit=4, types=["TaskAdded", "TaskClosed"])
        assert [e["id"] for e in first["events"]] == [e["id"] for e in tasks[:4]]
        assert first["next_position"] == tasks[3]["position"]  # more of them follow: resume right after it
        rest = rpc.project.events_since(position=first["next_position"], limit=4, types=["TaskAdded", "TaskClosed"])
        assert [e["id"] for e in rest["events"]] == [e["id"] for e in tasks[4:]]
        everything = rpc.project.events_since(position=0, limit=100)
        assert [e["id"] for e in everything["events"]] == [e["id"] for e in emitted]  # no types: no filter


def test_a_bad_types_filter_is_refused(config):
    with running(config, fake_source("project")), rpc_proxy(config) as rpc:
        for types, problem in [("TaskAdded", "Not a valid list."), ([], "Length must be between 1 and 100."),
                               (["TaskAdded", "TaskAded"], "Not an event type this service has: 'TaskAded'.")]:
            with pytest.raises(ValidationError) as info:
                rpc.project.events_since(position=0, types=types)
            assert info.value.errors == {"types": [problem]}
