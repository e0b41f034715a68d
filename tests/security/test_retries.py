"""Attacks on retries (issue 11): a ``command_id`` is not a key to someone else's first result. A retry returns the
first result to the caller who sent the command; another caller who sends the same id is refused (``Conflict``,
``command_id.reused``), learns nothing of the first command and appends nothing. Real project and timesheet
services on the real broker."""
import uuid

import pytest

from shared.errors import Conflict
from tests.timesheet.test_roles import _week

REUSED = "command_id.reused"


def refused_as_reused(call, head):
    before = head()
    with pytest.raises(Conflict) as err:
        call()
    assert err.value.code == REUSED
    assert "approved" not in str(err.value.message) and head() == before


def test_another_managers_approval_id_does_not_answer_with_the_week_it_approved(platform):
    week = _week(platform.submitted())
    command_id = f"approve-{uuid.uuid4()}"
    first = platform.proxies["manager"].timesheet.approve_timesheet(**week, command_id=command_id)
    assert first["status"] == "approved"
    # the manager's own retry answers the first result
    assert platform.proxies["manager"].timesheet.approve_timesheet(**week, command_id=command_id) == first
    # a manager of another project, who may not even read that week, sends the same id
    other = platform.proxies["other manager"].timesheet
    refused_as_reused(lambda: other.approve_timesheet(**week, command_id=command_id), platform.head)
    refused_as_reused(lambda: other.reject_timesheet(**week, reason="x", command_id=command_id), platform.head)


def test_another_managers_creation_id_does_not_answer_with_the_project_it_created(platform):
    command_id = f"create-{uuid.uuid4()}"
    code = f"R{uuid.uuid4().hex[:6]}"
    mine = platform.proxies["manager"].project.create_project(name="Mine", code=code, manager_id=platform.manager,
                                                              command_id=command_id)
    again = platform.proxies["manager"].project.create_project(name="Mine", code=code, manager_id=platform.manager,
                                                               command_id=command_id)
    assert again["id"] == mine["id"]

    def project_head():
        return platform.admin.project.events_since(position=0, limit=1)["head"]

    other = platform.proxies["other manager"].project
    refused_as_reused(lambda: other.create_project(name="Theirs", code=f"T{code}", manager_id=platform.other_manager,
                                                   command_id=command_id), project_head)
