"""The month-end close in the domain: corrections across a lock, late entries, invoicing marks, the date lock's
upcaster. Given events, when a command, then what it recorded. No I/O."""
from datetime import date

import pytest

from services.timesheet.domain import PeriodLock, ProjectFacts, TaskFacts, Timesheet, open_day, timesheet_id
from services.timesheet.events import events
from shared.aggregate import DomainEvent
from shared.errors import NotFound, RuleViolation
from shared.eventstore.base import RecordedEvent
from shared.testing import given, recorded, recorded_types

EMP = "11111111-1111-1111-1111-111111111111"
MGR = "22222222-2222-2222-2222-222222222222"
P1 = "aaaaaaaa-0000-0000-0000-000000000001"
T1 = "bbbbbbbb-0000-0000-0000-000000000001"
T2 = "bbbbbbbb-0000-0000-0000-000000000002"
WEEK = "2026-W09"  # Mon 2026-02-23 .. Sun 2026-03-01: straddles a lock through 28 February
TS = timesheet_id(EMP, WEEK)
FEB_END = "2026-02-28"
TODAY = date(2026, 3, 3)


def project(**kw):
    facts = dict(project_id=P1, code="ACME", status="active", manager_id=MGR, members={EMP},
                 tasks={T1: TaskFacts(T1, "Design", billable=True), T2: TaskFacts(T2, "Travel", billable=False,
                                                                                  open=False)})
    facts.update(kw)
    return ProjectFacts(**facts)


def logged(entry_id, day="2026-02-26", h=8, task_id=T1):
    return ("TimeLogged", {"entry_id": entry_id, "employee_id": EMP, "week": WEEK, "project_id": P1,
                           "task_id": task_id, "date": day, "hours": h, "billable": True, "description": "work"})


def invoiced(*entry_ids, ref="INV-1"):
    return ("TimeEntriesInvoiced", {"employee_id": EMP, "week": WEEK, "invoice_ref": ref, "entry_ids": list(entry_ids),
                                    "lines": []})


APPROVED = [("TimesheetSubmitted", {"employee_id": EMP, "week": WEEK, "total_hours": 8, "projects": [
                {"project_id": P1, "hours": 8, "billable_hours": 8, "manager_id": MGR}]}),
            ("TimesheetApproved", {"employee_id": EMP, "week": WEEK, "approver_id": MGR, "project_ids": [P1],
                                   "status": "approved", "approved_at": "2026-03-02T10:00:00+00:00", "lines": []})]


# -- locks by date -------------------------------------------------------------------------------------------
def test_a_lock_through_28_february_leaves_1_march_in_the_same_week_editable():
    ts = given(Timesheet, TS, logged("feb"), logged("mar", day="2026-03-01"))
    ts.amend("mar", project(), {"hours": 200}, locked_through=FEB_END)
    with pytest.raises(RuleViolation) as err:
        ts.amend("feb", project(), {"hours": 200}, locked_through=FEB_END)
    assert err.value.code == "timesheet.period_locked"
    assert recorded_types(ts) == ["TimeEntryAmended"] and ts.editable(FEB_END)


def test_an_old_whole_week_lock_reads_as_the_dates_it_locked():
    """PeriodLocked v1 locked every week with a day on or before its date: upcast to that week's Sunday."""
    old = RecordedEvent(id="x", stream="timesheetlock-global", version=0, position=1, type="PeriodLocked",
                        schema_version=1, data={"through_date": "2026-02-23", "actor_id": MGR,
                                                "previous_through_date": None}, recorded_at=None, metadata={})
    up = events.upcast(old)
    assert up.schema_version == 2 and up.data["through_date"] == "2026-03-01"
    assert up.data["requested_through_date"] == "2026-02-23" and up.data["previous_through_date"] is None
    lock = PeriodLock.rebuild("global", [up])
    assert lock.locked_through == "2026-03-01"  # 1 March was locked by it then, and still is
    unlocked = events.upcast(RecordedEvent(
        id="y", stream="timesheetlock-global", version=1, position=2, type="PeriodUnlocked", schema_version=1,
        data={"through_date": "2026-02-16", "actor_id": MGR, "reason": "x", "previous_through_date": "2026-02-23"},
        recorded_at=None, metadata={}))
    assert unlocked.data["through_date"] == "2026-02-22" and unlocked.data["previous_through_date"] == "2026-03-01"


def test_a_correction_is_booked_on_today_or_the_first_open_day():
    assert open_day(TODAY, FEB_END) == "2026-03-03"
    assert open_day(TODAY, "2026-03-05") == "2026-03-06"  # a lock a few days ahead
    assert open_day(TODAY, None) == "2026-03-03"


# -- corrections across the lock -----------------------------------------------------------------------------
def test_a_locked_entry_is_corrected_with_the_values_before_and_after_booked_in_the_open_period():
    ts = given(Timesheet, TS, logged("feb"), *APPROVED)
    ts.correct("feb", project(), {"hours": 650}, "client call was 6.5 h", booked_on="2026-03-03",
               locked_through=FEB_END)
    [(kind, data)] = recorded(ts)
    assert kind == "TimeEntryCorrected"
    assert data["hours"] == 6.5 and data["date"] == "2026-02-26" and data["correction"] == "change"
    assert data["before"] == {"hours": 8, "task_id": T1, "billable": True, "invoice_ref": None}
    assert data["after"] == {"hours": 6.5, "task_id": T1, "billable": True, "invoice_ref": None}
    assert data["booked_on"] == "2026-03-03" and data["reason"] == "client call was 6.5 h"
    assert events.validate("TimeEntryCorrected", data) == 1
    assert ts.entries["feb"]["hours"] == 650 and ts.status == "approved"  # the week stays as it was approved


def test_what_was_known_then_and_what_is_known_now():
    history = [logged("feb"), *APPROVED]
    ts = given(Timesheet, TS, *history)
    ts.correct("feb", project(), {"hours": 0}, "not worked after all", booked_on="2026-03-03", locked_through=FEB_END)
    then = given(Timesheet, TS, *history)  # as of before the correction
    now = given(Timesheet, TS, *history, *recorded(ts))
    assert then.total() == 800 and now.total() == 0


def test_a_new_task_brings_its_billable_default_and_must_be_the_projects():
    ts = given(Timesheet, TS, logged("feb"))
    ts.correct("feb", project(), {"task_id": T2}, "was travel", booked_on="2026-03-03", locked_through=FEB_END)
    assert recorded(ts)[0][1]["billable"] is False  # a closed task is fine: the hours were worked when it was open
    with pytest.raises(RuleViolation) as err:
        given(Timesheet, TS, logged("feb")).correct("feb", project(), {"task_id": "nope"}, "x",
                                                    booked_on="2026-03-03", locked_through=FEB_END)
    assert err.value.code == "timesheet.task_not_in_project"


def test_a_correction_of_an_entry_neither_locked_nor_invoiced_is_refused_use_amend():
    ts = given(Timesheet, TS, logged("mar", day="2026-03-01"))
    with pytest.raises(RuleViolation) as err:
        ts.correct("mar", project(), {"hours": 100}, "x", booked_on="2026-03-03", locked_through=FEB_END)
    assert err.value.code == "timesheet.not_locked" and ts.pending == []


def test_a_correction_needs_a_reason_keeps_the_day_limit_and_records_nothing_when_nothing_changes():
    ts = given(Timesheet, TS, logged("feb"), logged("other", h=16))
    for changes, reason, code in (({"hours": 100}, " ", "timesheet.reason_required"),
                                  ({"hours": 900}, "x", "timesheet.day_over_24h")):
        with pytest.raises(RuleViolation) as err:
            ts.correct("feb", project(), changes, reason, booked_on="2026-03-03", locked_through=FEB_END)
        assert err.value.code == code
    ts.correct("feb", project(), {"hours": 800}, "same", booked_on="2026-03-03", locked_through=FEB_END)
    with pytest.raises(NotFound):
        ts.correct("nope", project(), {"hours": 100}, "x", booked_on="2026-03-03", locked_through=FEB_END)
    assert ts.pending == []


def test_a_late_entry_in_a_locked_day_is_a_correction_with_nothing_before():
    ts = given(Timesheet, TS, *APPROVED)
    ts.add_late("late", project(status="completed"), "2026-02-27", 300, "forgot Friday", booked_on="2026-03-03",
                task_id=T2, locked_through=FEB_END)
    [(kind, data)] = recorded(ts)
    assert kind == "TimeEntryCorrected" and data["correction"] == "add" and data["before"] is None
    assert data["after"] == {"hours": 3, "task_id": T2, "billable": False, "invoice_ref": None}
    assert ts.entries["late"]["hours"] == 300
    for day, facts, code in (("2026-03-01", project(), "timesheet.not_locked"),
                             ("2026-02-27", project(members=set()), "timesheet.not_a_member"),
                             ("2026-02-27", None, "timesheet.project_unknown"),
                             ("2026-03-02", project(), "timesheet.date_not_in_week")):
        with pytest.raises(RuleViolation) as err:
            given(Timesheet, TS).add_late("x", facts, day, 100, "r", booked_on="2026-03-03", locked_through=FEB_END)
        assert err.value.code == code


# -- invoiced -------------------------------------------------------------------------------------------------
def test_an_invoiced_entry_changes_only_through_a_correction_which_takes_the_mark_away():
    ts = given(Timesheet, TS, logged("mar", day="2026-03-01"), invoiced("mar"))
    for attempt in (lambda: ts.amend("mar", project(), {"hours": 100}), lambda: ts.delete("mar")):
        with pytest.raises(RuleViolation) as err:
            attempt()
        assert err.value.code == "timesheet.entry_invoiced"
    assert ts.entry_view("mar")["invoice_ref"] == "INV-1"
    ts.correct("mar", project(), {"hours": 100}, "billed too much", booked_on="2026-03-03", locked_through=FEB_END)
    [(_, data)] = recorded(ts)
    assert data["before"]["invoice_ref"] == "INV-1" and data["after"]["invoice_ref"] is None
    assert ts.entry_view("mar")["invoice_ref"] is None


def test_marking_invoiced_records_the_new_marks_and_refuses_another_invoice():
    ts = given(Timesheet, TS, logged("a"), logged("b", day="2026-02-27"), invoiced("a"))
    ts.invoice(["a", "b"], "INV-1")  # a is on INV-1 already: only b is recorded
    assert recorded(ts) == [("TimeEntriesInvoiced", {
        "employee_id": EMP, "week": WEEK, "invoice_ref": "INV-1", "entry_ids": ["b"],
        "lines": [{"entry_id": "b", "project_id": P1, "date": "2026-02-27", "hours": 8, "billable": True}]})]
    ts.invoice(["a", "b"], "INV-1")
    assert len(ts.pending) == 1
    with pytest.raises(RuleViolation) as err:
        ts.invoice(["a"], "INV-2")
    assert err.value.code == "timesheet.already_invoiced"
    with pytest.raises(NotFound):
        ts.invoice(["nope"], "INV-1")


def test_every_new_event_matches_its_schema():
    ts = given(Timesheet, TS, logged("feb"))
    ts.correct("feb", project(), {"billable": False}, "internal", booked_on="2026-03-03", locked_through=FEB_END)
    ts.add_late("late", project(), "2026-02-24", 100, "r", booked_on="2026-03-03", locked_through=FEB_END)
    ts.invoice(["late"], "INV-9")
    for event in ts.pending:
        assert isinstance(event, DomainEvent) and events.validate(event.type, event.data) >= 1
