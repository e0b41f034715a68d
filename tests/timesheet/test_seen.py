"""Causal-consistency tokens: a caller passes the positions it has seen (``seen={"project": position}``), and
log_time pulls the project feed only when this service has not recorded that far yet. Without ``seen`` it pulls
before every check, as before (test_service.py)."""
import contextlib

import pytest

from services.timesheet.service import TimesheetService
from shared.config import eventstore_uri
from shared.entrypoints import rpc
from shared.errors import RuleViolation, ValidationError
from shared.eventstore import open_store
from shared.eventstore.base import ANY, NewEvent
from shared.testing import rpc_proxy, running, service_config
from tests.timesheet.conftest import Env, FakeProject, new_id

DAY = "2026-03-03"
FEED_CALLS = []


class CountingProject(FakeProject):
    """The fake project service, counting the calls of its feed (before it answers them)."""

    @rpc
    def events_since(self, **kwargs):
        FEED_CALLS.append(kwargs)
        return super().events_since(**kwargs)


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    # No periodic catch-up during the module: every pull of the project feed is one a command made.
    config = service_config(amqp_uri, tmp_path_factory.mktemp("seen"), CATCHUP_INTERVAL=3600)
    with running(config, TimesheetService, CountingProject), rpc_proxy(config) as rpc, \
            contextlib.ExitStack() as proxies:
        yield Env(config, rpc, proxies)


def commit(env, project_id, type, **data) -> int:
    """A change in the project service's store, not yet published; its position, as its command returns it."""
    store = open_store(eventstore_uri("project", env.config))
    try:
        return store.append(f"project-{project_id}", [NewEvent(type=type, data={"project_id": project_id, **data})],
                            ANY)
    finally:
        store.close()


def feed_pulls():
    return len(FEED_CALLS)


def test_a_hold_the_caller_has_seen_refuses_log_time_before_it_is_published(env):
    employee = new_id()
    project = env.project(members=[employee])
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=DAY, hours=1)
    held = commit(env, project, "ProjectStatusChanged", from_status="active", to_status="on_hold", reason="x",
                  effective_on=None)
    with pytest.raises(RuleViolation) as err:
        env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=DAY, hours=1,
                                   seen={"project": held})
    assert err.value.code == "timesheet.project_not_active"


def test_log_time_does_not_wait_on_the_project_feed_for_what_it_has_recorded_already(env):
    employee = new_id()
    project = env.project(members=[employee])
    known = env.rpc.project.events_since(position=0, limit=1)["head"]
    first = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=DAY, hours=1,
                                       seen={"project": known})  # behind it: pulls
    pulls = feed_pulls()
    again = env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=DAY, hours=1,
                                       seen={"project": known})
    assert feed_pulls() == pulls  # recorded through `known` already: no round trip to the project service
    assert again["position"] > first["position"]
    env.rpc.timesheet.log_time(employee_id=employee, project_id=project, date=DAY, hours=1)
    assert feed_pulls() > pulls  # without a token: pulled before the check, as always


@pytest.mark.parametrize("seen", [{"project": -1}, {"project": "5"}, {"project": True}, {"": 1}, [1], "project"])
def test_seen_must_be_positions_by_service(env, seen):
    with pytest.raises(ValidationError) as err:
        env.rpc.timesheet.log_time(employee_id=new_id(), project_id=new_id(), date=DAY, hours=1, seen=seen)
    assert "seen" in err.value.errors
