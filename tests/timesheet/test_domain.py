"""Domain tests: given events, when a command, then what it recorded (or the error). No I/O."""
from datetime import date

import pytest

from services.timesheet.domain import (
    PeriodLock,
    ProjectFacts,
    TaskFacts,
    Timesheet,
    date_locked,
    timesheet_id,
    week_locked,
)
from services.timesheet.events import events
from shared.errors import Forbidden, NotFound, RuleViolation
from shared.testing import given, recorded, recorded_types

EMP = "11111111-1111-1111-1111-111111111111"
MGR = "22222222-2222-2222-2222-222222222222"
MGR2 = "33333333-3333-3333-3333-333333333333"
ADMIN = "44444444-4444-4444-4444-444444444444"
P1 = "aaaaaaaa-0000-0000-0000-000000000001"
P2 = "aaaaaaaa-0000-0000-0000-000000000002"
T1 = "bbbbbbbb-0000-0000-0000-000000000001"
WEEK = "2026-W48"  # Mon 2026-11-23 .. Sun 2026-11-29
TS = timesheet_id(EMP, WEEK)


def project(pid=P1, **kw):
    facts = dict(project_id=pid, code="ACME", status="active", manager_id=MGR, members={EMP},
                 tasks={T1: TaskFacts(T1, "Design", billable=False)}, billable=True)
    facts.update(kw)
    return ProjectFacts(**facts)


def logged(entry_id, day="2026-11-24", h=8, pid=P1, billable=True, task_id=None):
    return ("TimeLogged", {"entry_id": entry_id, "employee_id": EMP, "week": WEEK, "project_id": pid,
                           "task_id": task_id, "date": day, "hours": h, "billable": billable, "description": ""})


def submitted(*pids):
    return ("TimesheetSubmitted", {"employee_id": EMP, "week": WEEK, "total_hours": 8,
                                   "projects": [{"project_id": p, "hours": 8, "billable_hours": 8,
                                                 "manager_id": MGR} for p in pids]})


def approved(*pids, status="approved"):
    return ("TimesheetApproved", {"employee_id": EMP, "week": WEEK, "approver_id": MGR, "project_ids": list(pids),
                                  "status": status, "approved_at": "2026-11-30T10:00:00+00:00", "lines": []})


def rejected(*pids):
    return ("TimesheetRejected", {"employee_id": EMP, "week": WEEK, "approver_id": MGR, "reason": "no",
                                  "project_ids": list(pids), "lines": []})


REOPENED = ("TimesheetReopened", {"employee_id": EMP, "week": WEEK, "actor_id": MGR, "reason": "fix",
                                  "from_status": "approved", "total_hours": 8, "projects": []})


# -- log_time rules ---------------------------------------------------------------------------
def test_log_records_the_entry_with_the_task_billable_default():
    ts = given(Timesheet, TS)
    ts.log("e1", project(), "2026-11-24", 725, task_id=T1, description="workshop")
    assert recorded(ts) == [("TimeLogged", {
        "entry_id": "e1", "employee_id": EMP, "week": WEEK, "project_id": P1, "task_id": T1,
        "date": "2026-11-24", "hours": 7.25, "billable": False, "description": "workshop"})]
    assert ts.entry_view("e1")["status"] == "open"


@pytest.mark.parametrize("task_billable,project_billable,given_billable,expected", [
    (None, True, None, True), (None, False, None, False), (True, False, None, True),
    (False, True, None, False), (False, True, True, True), (None, True, False, False),
])
def test_billable_defaults_to_task_then_project(task_billable, project_billable, given_billable, expected):
    ts = given(Timesheet, TS)
    facts = project(billable=project_billable, tasks={T1: TaskFacts(T1, "x", billable=task_billable)})
    ts.log("e1", facts, "2026-11-24", 100, task_id=T1, billable=given_billable)
    assert recorded(ts)[0][1]["billable"] is expected


@pytest.mark.parametrize("facts,task_id,day,code", [
    (None, None, "2026-11-24", "timesheet.project_unknown"),
    (project(status="on_hold"), None, "2026-11-24", "timesheet.project_not_active"),
    (project(status="completed"), None, "2026-11-24", "timesheet.project_not_active"),
    (project(members={}), None, "2026-11-24", "timesheet.not_a_member"),
    (project(), "bbbbbbbb-0000-0000-0000-000000000099", "2026-11-24", "timesheet.task_not_in_project"),
    (project(tasks={T1: TaskFacts(T1, "x", open=False)}), T1, "2026-11-24", "timesheet.task_closed"),
    (project(starts_on="2026-11-25"), None, "2026-11-24", "timesheet.before_project_start"),
    (project(ends_on="2026-11-23"), None, "2026-11-24", "timesheet.after_project_end"),
])
def test_log_refuses_on_project_rules(facts, task_id, day, code):
    ts = given(Timesheet, TS)
    with pytest.raises(RuleViolation) as err:
        ts.log("e1", facts, day, 100, task_id=task_id)
    assert err.value.code == code and ts.pending == []


def test_log_within_project_dates_is_fine_on_the_boundaries():
    ts = given(Timesheet, TS)
    ts.log("e1", project(starts_on="2026-11-24", ends_on="2026-11-24"), "2026-11-24", 100)
    assert recorded_types(ts) == ["TimeLogged"]


def test_day_total_stays_at_or_under_24_hours():
    ts = given(Timesheet, TS, logged("e1", h=16), logged("e2", day="2026-11-25", h=20))
    ts.log("e3", project(), "2026-11-24", 800)  # exactly 24
    assert recorded_types(ts) == ["TimeLogged"]
    with pytest.raises(RuleViolation) as err:
        ts.log("e4", project(), "2026-11-24", 1)
    assert err.value.code == "timesheet.day_over_24h"


def test_log_refuses_a_date_outside_the_week_and_a_duplicate_entry():
    ts = given(Timesheet, TS, logged("e1"))
    with pytest.raises(RuleViolation) as err:
        ts.log("e2", project(), "2026-11-30", 100)
    assert err.value.code == "timesheet.date_not_in_week"
    with pytest.raises(RuleViolation) as err:
        ts.log("e1", project(), "2026-11-24", 100)
    assert err.value.code == "timesheet.entry_exists"


def test_locked_period_refuses_log_amend_delete_and_reopen():
    locked = "2026-11-24"  # the Tuesday: entries dated Monday and Tuesday are locked, the rest of the week is not
    ts = given(Timesheet, TS, logged("e1"))  # dated Tuesday
    for attempt in (lambda: ts.log("e2", project(), "2026-11-23", 100, locked_through=locked),
                    lambda: ts.amend("e1", project(), {"hours": 100}, locked_through=locked),
                    lambda: ts.amend("e1", project(), {"date": "2026-11-26"}, locked_through=locked),
                    lambda: ts.delete("e1", locked_through=locked)):
        with pytest.raises(RuleViolation) as err:
            attempt()
        assert err.value.code == "timesheet.period_locked"
    closed = given(Timesheet, TS, logged("e1"), submitted(P1), approved(P1))
    with pytest.raises(RuleViolation) as err:  # reopening would change a locked entry's status
        closed.reopen(MGR, "fix", locked_through=locked)
    assert err.value.code == "timesheet.period_locked"
    assert ts.pending == [] and closed.pending == []


def test_a_lock_by_date_leaves_the_later_days_of_its_week_editable():
    locked = "2026-11-24"
    ts = given(Timesheet, TS, logged("e1", day="2026-11-25"))
    ts.log("e2", project(), "2026-11-26", 100, locked_through=locked)
    ts.amend("e1", project(), {"hours": 200}, locked_through=locked)
    with pytest.raises(RuleViolation) as err:  # moving an open entry into the locked days
        ts.amend("e1", project(), {"date": "2026-11-24"}, locked_through=locked)
    assert err.value.code == "timesheet.period_locked"
    ts.delete("e2", locked_through=locked)
    assert recorded_types(ts) == ["TimeLogged", "TimeEntryAmended", "TimeEntryDeleted"]
    assert ts.editable(locked_through=locked)
    later = given(Timesheet, TS, logged("e1", day="2026-11-25"), submitted(P1), approved(P1))
    later.reopen(MGR, "fix", locked_through=locked)  # no entry of the week is locked
    assert recorded_types(later) == ["TimesheetReopened"]


def test_a_week_is_wholly_locked_only_through_its_sunday():
    assert week_locked(WEEK, "2026-11-29") and week_locked(WEEK, "2026-12-31")
    assert not week_locked(WEEK, "2026-11-28") and not week_locked(WEEK, "2026-11-23")
    assert not week_locked(WEEK, None)
    assert date_locked("2026-11-23", "2026-11-23") and not date_locked("2026-11-24", "2026-11-23")


# -- amend and delete ---------------------------------------------------------------------------
def test_amend_records_new_state_and_previous_values():
    ts = given(Timesheet, TS, logged("e1", h=8))
    ts.amend("e1", project(), {"hours": 650, "description": "fixed"}, reason="typo")
    [(kind, data)] = recorded(ts)
    assert kind == "TimeEntryAmended"
    assert data["hours"] == 6.5 and data["description"] == "fixed" and data["reason"] == "typo"
    assert data["previous"] == {"hours": 8, "description": ""}


def test_amend_with_no_change_records_nothing():
    ts = given(Timesheet, TS, logged("e1", h=8))
    ts.amend("e1", project(), {"hours": 800})
    assert ts.pending == []


def test_amend_keeps_the_day_limit_excluding_the_entry_itself():
    ts = given(Timesheet, TS, logged("e1", h=8), logged("e2", h=10))
    ts.amend("e1", project(), {"hours": 1400})  # 14 + 10 = 24
    assert recorded_types(ts) == ["TimeEntryAmended"]
    ts = given(Timesheet, TS, logged("e1", h=8), logged("e2", h=10))
    with pytest.raises(RuleViolation) as err:
        ts.amend("e1", project(), {"hours": 1401})
    assert err.value.code == "timesheet.day_over_24h"


def test_amend_checks_project_rules_for_the_new_state():
    ts = given(Timesheet, TS, logged("e1"))
    with pytest.raises(RuleViolation) as err:
        ts.amend("e1", project(ends_on="2026-11-24"), {"date": "2026-11-25"})
    assert err.value.code == "timesheet.after_project_end"


def test_amend_and_delete_of_unknown_entry_is_not_found():
    ts = given(Timesheet, TS)
    with pytest.raises(NotFound):
        ts.amend("nope", project(), {"hours": 100})
    with pytest.raises(NotFound):
        ts.delete("nope")


def test_delete_records_the_entry_it_removes():
    ts = given(Timesheet, TS, logged("e1", h=3))
    ts.delete("e1", reason="wrong project", moved_to_week="2026-W49")
    [(kind, data)] = recorded(ts)
    assert kind == "TimeEntryDeleted" and data["hours"] == 3 and data["project_id"] == P1
    assert data["moved_to_week"] == "2026-W49" and ts.entries == {}


# -- the state machine ----------------------------------------------------------------------------
STATES = {
    "open": [logged("e1")],
    "submitted": [logged("e1"), logged("e2", pid=P2), submitted(P1, P2)],
    "partially_approved": [logged("e1"), logged("e2", pid=P2), submitted(P1, P2), approved(P1, status="x")],
    "approved": [logged("e1"), submitted(P1), approved(P1)],
    "rejected": [logged("e1"), submitted(P1), rejected(P1)],
}
MANAGES = {P1: None, P2: None}  # project -> on whose behalf (None: as its manager)
COMMANDS = {
    "log": lambda ts: ts.log("e9", project(), "2026-11-26", 100),
    "amend": lambda ts: ts.amend("e1", project(), {"hours": 100}),
    "delete": lambda ts: ts.delete("e1"),
    "submit": lambda ts: ts.submit({P1: MGR}),
    "approve": lambda ts: ts.approve(MGR, MANAGES),
    "reject": lambda ts: ts.reject(MGR, MANAGES, "wrong"),
    "reopen": lambda ts: ts.reopen(MGR, "fix"),
}
# state -> command -> status afterwards, or the refusal's code
TRANSITIONS = {
    "open": {"log": "open", "amend": "open", "delete": "open", "submit": "submitted",
             "approve": "timesheet.not_submitted", "reject": "timesheet.not_submitted",
             "reopen": "timesheet.not_submitted"},
    "submitted": {"log": "timesheet.week_closed", "amend": "timesheet.week_closed",
                  "delete": "timesheet.week_closed", "submit": "timesheet.not_open", "approve": "approved",
                  "reject": "rejected", "reopen": "open"},
    "partially_approved": {"log": "timesheet.week_closed", "amend": "timesheet.week_closed",
                           "delete": "timesheet.week_closed", "submit": "timesheet.not_open",
                           "approve": "approved", "reject": "rejected", "reopen": "open"},
    "approved": {"log": "timesheet.week_closed", "amend": "timesheet.week_closed",
                 "delete": "timesheet.week_closed", "submit": "timesheet.not_open",
                 "approve": "timesheet.not_submitted", "reject": "timesheet.not_submitted", "reopen": "open"},
    "rejected": {"log": "rejected", "amend": "rejected", "delete": "rejected", "submit": "submitted",
                 "approve": "timesheet.not_submitted", "reject": "timesheet.not_submitted", "reopen": "open"},
}


@pytest.mark.parametrize("state,command", [(s, c) for s in TRANSITIONS for c in COMMANDS])
def test_transition_table(state, command):
    ts = given(Timesheet, TS, *STATES[state])
    assert ts.status == state
    outcome = TRANSITIONS[state][command]
    if outcome.startswith("timesheet."):
        with pytest.raises(RuleViolation) as err:
            COMMANDS[command](ts)
        assert err.value.code == outcome and ts.pending == []
    else:
        COMMANDS[command](ts)
        assert len(ts.pending) == 1 and ts.status == outcome
        for kind, data in recorded(ts):
            events.validate(kind, data)  # what the domain records matches the published schema


def test_submit_records_project_lines_with_hours_and_managers():
    ts = given(Timesheet, TS, logged("e1", h=8), logged("e2", day="2026-11-25", h=2.5, pid=P2, billable=False))
    ts.submit({P1: MGR, P2: MGR2})
    [(kind, data)] = recorded(ts)
    assert kind == "TimesheetSubmitted" and data["total_hours"] == 10.5
    assert data["projects"] == [
        {"project_id": P1, "hours": 8, "billable_hours": 8, "manager_id": MGR},
        {"project_id": P2, "hours": 2.5, "billable_hours": 0, "manager_id": MGR2}]


def test_an_empty_week_can_be_submitted():
    ts = given(Timesheet, TS)
    ts.submit({})
    assert recorded(ts)[0][1]["projects"] == [] and recorded(ts)[0][1]["total_hours"] == 0
    assert ts.status == "submitted"


def test_approval_per_project_line_until_every_line_is_approved():
    ts = given(Timesheet, TS, logged("e1"), logged("e2", pid=P2), submitted(P1, P2))
    ts.approve(MGR, {P1: None})
    assert recorded(ts)[0][1]["status"] == "partially_approved" and recorded(ts)[0][1]["project_ids"] == [P1]
    assert ts.status == "partially_approved"
    ts.approve(MGR2, {P2: None})
    assert recorded(ts)[1][1]["status"] == "approved" and ts.status == "approved"
    assert recorded(ts)[1][1]["lines"] == [{"project_id": P2, "hours": 8, "billable_hours": 8}]


def test_approve_only_the_given_project():
    ts = given(Timesheet, TS, logged("e1"), logged("e2", pid=P2), submitted(P1, P2))
    ts.approve(MGR, {P1: None, P2: None}, project_id=P2)
    assert recorded(ts)[0][1]["project_ids"] == [P2]


def test_approver_who_manages_none_of_the_projects_is_forbidden():
    ts = given(Timesheet, TS, logged("e1"), submitted(P1))
    for refused in (lambda: ts.approve(MGR2, {}), lambda: ts.reject(MGR2, {}, "no")):
        with pytest.raises(Forbidden) as err:
            refused()
        assert err.value.code == "auth.not_manager"
    ts2 = given(Timesheet, TS, logged("e1"), logged("e2", pid=P2), submitted(P1, P2))
    with pytest.raises(Forbidden) as err:
        ts2.approve(MGR, {P1: None}, project_id=P2)
    assert err.value.code == "auth.not_manager"
    with pytest.raises(RuleViolation) as err:
        ts2.approve(MGR, {P1: None}, project_id="cccccccc-0000-0000-0000-000000000000")
    assert err.value.code == "timesheet.project_not_in_week"


def test_approving_an_already_approved_line_again_is_refused():
    ts = given(Timesheet, TS, logged("e1"), logged("e2", pid=P2), submitted(P1, P2), approved(P1, status="x"))
    with pytest.raises(RuleViolation) as err:
        ts.approve(MGR, {P1: None})
    assert err.value.code == "timesheet.already_decided"


def test_rejection_needs_a_reason_and_makes_the_week_editable():
    ts = given(Timesheet, TS, logged("e1"), submitted(P1))
    with pytest.raises(RuleViolation) as err:
        ts.reject(MGR, {P1: None}, " ")
    assert err.value.code == "timesheet.reason_required"
    ts.reject(MGR, {P1: None}, "too much")
    assert ts.status == "rejected"
    ts.amend("e1", project(), {"hours": 400})
    ts.submit({P1: MGR})
    assert recorded_types(ts) == ["TimesheetRejected", "TimeEntryAmended", "TimesheetSubmitted"]
    assert ts.status == "submitted" and ts.lines[P1]["status"] == "pending"


def test_a_rejection_says_which_approvals_it_takes_away():
    ts = given(Timesheet, TS, logged("e1"), logged("e2", pid=P2), submitted(P1, P2), approved(P2, status="partially_approved"))
    ts.reject(MGR, {P1: None}, "Tuesday is missing")
    [(kind, data)] = recorded(ts)
    assert kind == "TimesheetRejected" and data["project_ids"] == [P1]
    assert data["status"] == "rejected" and data["revoked_project_ids"] == [P2]


def test_reopen_an_approved_week_opens_it_for_changes():
    ts = given(Timesheet, TS, logged("e1"), submitted(P1), approved(P1), REOPENED)
    assert ts.status == "open" and ts.lines == {}
    ts.log("e2", project(), "2026-11-25", 100)
    assert recorded_types(ts) == ["TimeLogged"]


# -- the period lock -------------------------------------------------------------------------------
TODAY = date(2026, 11, 30)
LOCKED = ("PeriodLocked", {"through_date": "2026-11-30", "actor_id": ADMIN})


def test_a_lock_moves_forward_and_never_beyond_today_plus_the_margin():
    lock = given(PeriodLock, "global")
    lock.lock("2026-11-30", ADMIN, today=TODAY)
    assert recorded(lock) == [("PeriodLocked", {"through_date": "2026-11-30", "actor_id": ADMIN,
                                                "previous_through_date": None})]
    lock = given(PeriodLock, "global", LOCKED)
    with pytest.raises(RuleViolation) as err:
        lock.lock("2026-11-01", ADMIN, today=TODAY)
    assert err.value.code == "timesheet.already_locked"
    lock.lock("2026-12-07", ADMIN, today=TODAY)  # today + 7 days (LOCK_MAX_DAYS_AHEAD)
    for through, margin in (("2026-12-08", 7), ("9999-12-31", 7), ("2026-12-01", 0)):
        with pytest.raises(RuleViolation) as err:
            given(PeriodLock, "global", LOCKED).lock(through, ADMIN, today=TODAY, max_days_ahead=margin)
        assert err.value.code == "timesheet.lock_too_far_ahead"


def test_an_unlock_goes_back_to_an_earlier_date_with_a_reason():
    lock = given(PeriodLock, "global", LOCKED)
    lock.unlock("2026-10-31", "payroll correction for November", ADMIN)
    assert recorded(lock) == [("PeriodUnlocked", {
        "through_date": "2026-10-31", "actor_id": ADMIN, "reason": "payroll correction for November",
        "previous_through_date": "2026-11-30"})]
    assert lock.locked_through == "2026-10-31" and not date_locked("2026-11-01", lock.locked_through)
    for kind, data in recorded(lock):
        events.validate(kind, data)
    for through, reason, code in (("2026-11-30", "x", "timesheet.unlock_not_earlier"),
                                  ("2026-12-01", "x", "timesheet.unlock_not_earlier"),
                                  ("2026-10-01", " ", "timesheet.reason_required")):
        with pytest.raises(RuleViolation) as err:
            given(PeriodLock, "global", LOCKED).unlock(through, reason, ADMIN)
        assert err.value.code == code
    with pytest.raises(RuleViolation) as err:  # nothing locked: nothing to unlock
        given(PeriodLock, "global").unlock("2026-10-01", "x", ADMIN)
    assert err.value.code == "timesheet.unlock_not_earlier"


# -- who decides: one's own hours, delegates ------------------------------------------------------------
def test_nobody_approves_or_rejects_their_own_hours_unless_an_admin_and_then_it_is_recorded():
    ts = given(Timesheet, TS, logged("e1"), submitted(P1))
    for decide in (lambda: ts.approve(EMP, {P1: None}), lambda: ts.reject(EMP, {P1: None}, "no")):
        with pytest.raises(Forbidden) as err:
            decide()
        assert err.value.code == "auth.self_approval" and ts.pending == []
    ts.approve(EMP, {P1: None}, admin=True)
    [(kind, data)] = recorded(ts)
    assert data["approver_id"] == EMP and data["self_approval_override"] is True
    events.validate(kind, data)
    other = given(Timesheet, TS, logged("e1"), submitted(P1))
    other.approve(ADMIN, {P1: None}, admin=True)
    assert "self_approval_override" not in recorded(other)[0][1]


def test_a_delegate_decides_on_behalf_of_the_manager_and_each_event_says_for_whom():
    ts = given(Timesheet, TS, logged("e1"), logged("e2", pid=P2), submitted(P1, P2))
    ts.approve(MGR2, {P1: MGR, P2: None})  # MGR2 manages P2 and stands in for MGR on P1
    assert [(d["project_ids"], d["approver_id"], d["on_behalf_of"], d["status"]) for _, d in recorded(ts)] == [
        ([P1], MGR2, MGR, "partially_approved"), ([P2], MGR2, None, "approved")]
    assert ts.status == "approved"
    for kind, data in recorded(ts):
        events.validate(kind, data)
    rejected_week = given(Timesheet, TS, logged("e1"), submitted(P1))
    rejected_week.reject(MGR2, {P1: MGR}, "Tuesday is missing")
    [(kind, data)] = recorded(rejected_week)
    assert data["approver_id"] == MGR2 and data["on_behalf_of"] == MGR and rejected_week.status == "rejected"


# -- review round 2 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reopen_needs_a_reason_that_is_not_blank(reason):
    ts = given(Timesheet, TS, logged("e1"), submitted(P1))
    with pytest.raises(RuleViolation) as err:
        ts.reopen(MGR, reason)
    assert err.value.code == "timesheet.reason_required" and ts.pending == []


def test_a_line_shows_its_approval_only_while_it_is_approved():
    ts = given(Timesheet, TS, logged("e1"), logged("e2", pid=P2), submitted(P1, P2), approved(P1, status="x"))
    assert ts.line_approval(P1) == {"status": "approved", "approved_by": MGR,
                                    "approved_at": "2026-11-30T10:00:00+00:00"}
    assert ts.line_approval(P2) == {"status": "submitted", "approved_by": None, "approved_at": None}
    ts.reject(MGR2, {P2: None}, "P2 is wrong")  # the whole week is rejected, P1's approval with it
    assert ts.line_approval(P1) == {"status": "rejected", "approved_by": None, "approved_at": None}


def test_a_locked_week_is_not_editable_whatever_its_status():
    rejected_week = given(Timesheet, TS, logged("e1"), submitted(P1), rejected(P1))
    assert rejected_week.editable() and rejected_week.editable(locked_through="2026-11-28")  # Sunday still open
    assert not rejected_week.editable(locked_through="2026-11-29")
    assert not given(Timesheet, TS, logged("e1"), submitted(P1)).editable()
