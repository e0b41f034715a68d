"""Attacks on the timesheet's view of who manages what (issue 11: "the rights move at once"). A project handed
to another manager a moment ago, committed by the project service but not yet published, must already have
taken the old manager's rights away: approving, rejecting, reopening and reading that project's hours. The
project service here is a fake whose relay polls rarely, so the handover waits in its feed, unpublished."""
import contextlib

import pytest

from services.timesheet.domain import Timesheet, timesheet_id
from services.timesheet.service import TimesheetService
from shared.config import eventstore_uri
from shared.errors import Forbidden
from shared.eventstore import open_store
from shared.testing import rpc_proxy, running, service_config
from tests.timesheet.conftest import Env, FakeProject, new_id

WEEK, MON = "2026-W47", "2026-11-16"


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    # a relay poll every minute: a change committed straight into the project store stays unpublished meanwhile
    config = service_config(amqp_uri, tmp_path_factory.mktemp("stale"), POLL_INTERVAL=60)
    with running(config, TimesheetService, FakeProject), rpc_proxy(config) as rpc, contextlib.ExitStack() as proxies:
        yield Env(config, rpc, proxies)


def handed_over(env, status="submitted"):
    """A week of an employee on a project of ``old``, submitted (or approved), then the project handed to
    ``new`` in the project service's store only."""
    employee, old, new = new_id(), new_id(), new_id()
    project = env.project(members=[employee], manager_id=old)
    env.as_(employee).log_time(employee_id=employee, project_id=project, date=MON, hours=2)
    if status != "logged":
        env.as_(employee).submit_timesheet(employee_id=employee, week=WEEK)
    if status == "approved":
        env.as_(old, "manager").approve_timesheet(employee_id=employee, week=WEEK)
    env.as_(old, "manager").get_timesheet(employee_id=employee, week=WEEK)  # the old manager's rights, before
    env.commit(project, "ProjectUpdated", changes={"manager_id": new}, previous={"manager_id": old})
    return employee, old, new, project


def refused(call, code="auth.not_manager"):
    with pytest.raises(Forbidden) as err:
        call()
    assert err.value.code == code


def test_the_old_manager_neither_approves_nor_rejects_once_the_project_is_handed_over(env):
    employee, old, new, _ = handed_over(env)
    before = env.head()
    refused(lambda: env.as_(old, "manager").approve_timesheet(employee_id=employee, week=WEEK))
    refused(lambda: env.as_(old, "manager").reject_timesheet(employee_id=employee, week=WEEK, reason="no"))
    assert env.head() == before
    assert env.as_(new, "manager").approve_timesheet(employee_id=employee, week=WEEK)["status"] == "approved"


def test_the_old_manager_neither_reopens_nor_reads_once_the_project_is_handed_over(env):
    employee, old, _, project = handed_over(env, status="approved")
    before = env.head()
    refused(lambda: env.as_(old, "manager").reopen_timesheet(employee_id=employee, week=WEEK, reason="audit"))
    refused(lambda: env.as_(old, "manager").get_timesheet(employee_id=employee, week=WEEK))
    refused(lambda: env.as_(old, "manager").history(employee_id=employee, week=WEEK))
    refused(lambda: env.as_(old, "manager").project_hours(project_id=project))
    assert env.head() == before


def test_a_week_submitted_after_a_handover_is_sent_to_the_new_manager(env):
    """The submission names each project's manager (whom the notification service tells, with the hours)."""
    employee, old, new, _ = handed_over(env, status="logged")
    env.as_(employee).submit_timesheet(employee_id=employee, week=WEEK)
    store = open_store(eventstore_uri("timesheet", env.config))
    try:
        [submitted] = [e for e in store.read_stream(Timesheet(timesheet_id(employee, WEEK)).stream) if e.type == "TimesheetSubmitted"]
    finally:
        store.close()
    assert [p["manager_id"] for p in submitted.data["projects"]] == [new]
