"""The follow-up read model (issue 17) on an in-memory SQLite: given recorded source events, then which approvals
are overdue, who an employee's managers are and who missed their hours two weeks in a row. No broker."""
import sqlite3
from datetime import date, datetime, timezone

import pytest

from services.notification.followup_views import (
    FollowUpFacts,
    managers_of_employee,
    missed_two_weeks,
    overdue_approvals,
)
from services.notification.projections import Facts
from shared.eventstore.base import RecordedEvent

SUBMITTED_AT = "2026-11-27T16:00:00+00:00"  # Friday of 2026-W48, as the timesheet service recorded it
REGISTERED_AT = "2026-11-02T08:00:00+00:00"


@pytest.fixture
def db():
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    Facts().setup(conn)
    FollowUpFacts().setup(conn)
    yield conn
    conn.close()


def given(db, *events, at=SUBMITTED_AT):
    for i, (type, data) in enumerate(events):
        event = RecordedEvent(
            id=f"{type}-{i}-{data.get('week', '')}", stream="notification~x", version=i, position=i + 1, type=type,
            schema_version=1, data=data, recorded_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
            metadata={"origin": {"service": "s", "stream": "s", "version": i, "position": i + 1, "recorded_at": at}})
        for projection in (Facts(), FollowUpFacts()):
            projection.apply(db, event)


def project(pid, manager):
    return ("ProjectCreated", {"project_id": pid, "name": pid, "code": pid.upper(), "manager_id": manager})


def submitted(employee, week, *lines):
    return ("TimesheetSubmitted", {"employee_id": employee, "week": week, "total_hours": 8, "projects": [
        {"project_id": p, "hours": 4, "billable_hours": 4, "manager_id": m} for p, m in lines]})


def chased(due):
    return ("ApprovalsOverdue", {"employee_id": due["employee_id"], "week": due["week"],
                                 "submission_id": due["submission_id"], "submitted_on": due["submitted_on"],
                                 "working_days": 4, "managers": due["waiting"], "detected_on": "2026-12-03"})


def test_a_submission_waits_per_project_until_approved_and_ends_when_rejected(db):
    given(db, project("p1", "m1"), project("p2", "m2"), project("p3", "m2"),
          submitted("e1", "2026-W48", ("p1", None), ("p2", "m2"), ("p3", None)))
    assert overdue_approvals(db, date(2026, 12, 2)) == []  # 3 working days: not more than 3
    (due,) = overdue_approvals(db, date(2026, 12, 3))
    assert due["employee_id"] == "e1" and due["week"] == "2026-W48" and due["submitted_on"] == "2026-11-27"
    assert due["waiting"] == [{"manager_id": "m1", "project_ids": ["p1"]},
                              {"manager_id": "m2", "project_ids": ["p2", "p3"]}]
    given(db, ("TimesheetApproved", {"employee_id": "e1", "week": "2026-W48", "project_ids": ["p1"]}))
    (due,) = overdue_approvals(db, date(2026, 12, 3))
    assert due["waiting"] == [{"manager_id": "m2", "project_ids": ["p2", "p3"]}]
    given(db, chased(due))
    assert overdue_approvals(db, date(2026, 12, 3)) == []  # chased already
    given(db, ("TimesheetRejected", {"employee_id": "e1", "week": "2026-W48"}))
    assert db.execute("SELECT COUNT(*) FROM followup_pending").fetchone()[0] == 0


def test_a_resubmission_is_a_new_wait(db):
    given(db, project("p1", "m1"), submitted("e1", "2026-W48", ("p1", "m1")))
    (first,) = overdue_approvals(db, date(2026, 12, 3))
    given(db, chased(first), ("TimesheetReopened", {"employee_id": "e1", "week": "2026-W48"}))
    given(db, submitted("e1", "2026-W48", ("p1", "m1")), at="2026-12-07T10:00:00+00:00")
    assert overdue_approvals(db, date(2026, 12, 10)) == []
    (second,) = overdue_approvals(db, date(2026, 12, 11))
    assert second["submission_id"] != first["submission_id"] and second["submitted_on"] == "2026-12-07"


def logged(employee, week, day, project_id, hours=8):
    return ("TimeLogged", {"entry_id": f"{employee}-{day}-{project_id}", "employee_id": employee, "week": week,
                           "project_id": project_id, "task_id": None, "date": day, "hours": hours,
                           "billable": True, "description": ""})


def test_an_employees_managers_are_those_of_the_projects_logged_on_else_member_of_else_last_logged(db):
    given(db, project("p1", "m1"), project("p2", "m2"), project("p3", "m3"), project("own", "e1"),
          logged("e1", "2026-W40", "2026-09-28", "p3"),
          ("MemberAssigned", {"project_id": "p2", "employee_id": "e1"}))
    assert managers_of_employee(db, "e1", ["2026-W47", "2026-W48"]) == ["m2"]  # a member, nothing logged
    given(db, logged("e1", "2026-W48", "2026-11-23", "p1"), logged("e1", "2026-W48", "2026-11-24", "own"))
    assert managers_of_employee(db, "e1", ["2026-W47", "2026-W48"]) == ["m1"]  # never themself
    given(db, ("MemberRemoved", {"project_id": "p2", "employee_id": "e1"}))
    assert managers_of_employee(db, "e1", ["2026-W50"]) == ["m1"]  # the last week logged on
    assert managers_of_employee(db, "nobody", ["2026-W48"]) == []


def registered(rid, weekly=40):
    return ("ResourceRegistered", {"resource_id": rid, "name": rid, "email": f"{rid}@example.com",
                                   "weekly_capacity_hours": weekly, "skills": [], "working_days": [1, 2, 3, 4, 5],
                                   "title": None})


def test_missed_two_weeks_takes_the_reminders_rule_for_both_weeks(db):
    given(db, registered("short"), registered("once"), registered("full"), registered("sent"), project("p1", "m1"),
          at=REGISTERED_AT)
    given(db, logged("short", "2026-W47", "2026-11-16", "p1", 30), logged("short", "2026-W48", "2026-11-23", "p1", 8),
          logged("once", "2026-W47", "2026-11-16", "p1", 40),
          logged("full", "2026-W47", "2026-11-16", "p1", 40), logged("full", "2026-W48", "2026-11-23", "p1", 40),
          submitted("sent", "2026-W48", ("p1", "m1")))
    (found,) = missed_two_weeks(db, "2026-W48")
    assert found == {"employee_id": "short", "manager_ids": ["m1"], "weeks": [
        {"week": "2026-W47", "logged_hours": 30, "expected_hours": 40},
        {"week": "2026-W48", "logged_hours": 8, "expected_hours": 40}]}


def test_a_handover_since_the_submission_moves_the_chase_to_the_new_manager(db):
    given(db, project("p1", "m1"), submitted("e1", "2026-W48", ("p1", "m1")),
          ("ProjectUpdated", {"project_id": "p1", "changes": {"manager_id": "m9"}, "previous": {"manager_id": "m1"}}))
    (due,) = overdue_approvals(db, date(2026, 12, 3))
    assert due["waiting"] == [{"manager_id": "m9", "project_ids": ["p1"]}]


def test_a_submission_older_than_the_chase_age_is_left_alone(db):
    given(db, project("p1", "m1"), submitted("e1", "2026-W48", ("p1", "m1")))
    assert overdue_approvals(db, date(2026, 12, 25), max_age_days=28)  # 28 days after
    assert overdue_approvals(db, date(2026, 12, 26), max_age_days=28) == []
