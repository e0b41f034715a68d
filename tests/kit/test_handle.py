"""The handle's small reads that services use instead of reaching into the kit: ``config``, ``event_at`` and
``pull_all``. No broker: the kit is opened on its own."""
from shared.eventstore.base import NO_STREAM, NewEvent
from shared.kit import Chronicle, ChronicleHandle

from .sample import events


def opened(tmp_path, **kwargs):
    kit = Chronicle(categories=["counter"], events=events, **kwargs)
    kit.open("counter", {"CHRONICLE_DATA_DIR": str(tmp_path), "SOME_SETTING": "on"})
    return kit


def test_event_at_gives_one_event_as_it_was_written_where_stream_upcasts(tmp_path):
    kit = opened(tmp_path)
    v1 = NewEvent("CounterIncremented", {"counter_id": "c", "by": 1}, schema_version=1)
    v2 = NewEvent("CounterIncremented", {"counter_id": "c", "by": 2, "note": "n"}, schema_version=2)
    kit.store.append("counter-c", [v1, v2], NO_STREAM)
    handle = ChronicleHandle(kit)

    first, second = handle.event_at("counter-c", 0), handle.event_at("counter-c", 1)

    assert (first.data, first.schema_version) == ({"counter_id": "c", "by": 1}, 1)  # not upcast
    assert handle.stream("counter-c")[0].data["note"] == ""  # where stream() upcasts it
    assert second.id == v2.id and second.version == 1
    assert handle.event_at("counter-c", 2) is None and handle.event_at("counter-nothing", 0) is None


def test_config_is_the_services_settings(tmp_path):
    assert ChronicleHandle(opened(tmp_path)).config["SOME_SETTING"] == "on"


def test_pull_all_pulls_every_source_and_a_source_that_fails_does_not_stop_the_others(tmp_path):
    kit = opened(tmp_path, sources={"alpha": ["alpha"], "beta": ["beta"], "gamma": ["gamma"]},
                 registries={"alpha": events, "beta": events, "gamma": events})
    asked = []

    def pull(source):
        asked.append(source)
        if source == "beta":
            raise ConnectionError("beta is down")
        return {"alpha": 2, "gamma": 3}[source]

    kit.consumer.pull = pull
    assert ChronicleHandle(kit).pull_all() == 5
    assert asked == ["alpha", "beta", "gamma"]
    assert kit.consumer.suspended("beta") and not kit.consumer.suspended("alpha")
