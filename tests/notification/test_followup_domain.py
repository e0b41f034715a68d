"""Follow-up rules (issue 17) and per-kind preferences, given/when/then on events: no I/O (the upgrade test alone
uses a store file)."""
from datetime import date

import pytest

from services.notification.domain import KINDS, Preferences, channels_for
from services.notification.events import events
from services.notification.followup import (
    ApprovalChase,
    MissedHours,
    approval_overdue,
    previous_week,
    working_days_waited,
)
from services.notification.projections import Inbox
from services.notification.views import preferences_shown
from shared.errors import RuleViolation
from shared.eventstore.base import ANY, NewEvent, RecordedEvent
from shared.eventstore.sqlite import SQLiteEventStore
from shared.projections import ProjectionRunner, ViewStore
from shared.testing import given, recorded

FRIDAY = date(2026, 11, 27)  # 2026-W48


# -- working days ------------------------------------------------------------------------------------
@pytest.mark.parametrize("today, waited", [
    (date(2026, 11, 27), 0), (date(2026, 11, 28), 0), (date(2026, 11, 29), 0),  # the weekend does not count
    (date(2026, 11, 30), 1), (date(2026, 12, 2), 3), (date(2026, 12, 3), 4), (date(2026, 12, 11), 10),
    (date(2026, 11, 20), 0),
])
def test_working_days_waited_count_monday_to_friday_after_the_day_of_submission(today, waited):
    assert working_days_waited(FRIDAY, today) == waited


def test_a_week_is_overdue_after_more_than_three_working_days():
    assert not approval_overdue(FRIDAY, date(2026, 12, 2))  # Mon, Tue, Wed: 3
    assert approval_overdue(FRIDAY, date(2026, 12, 3))  # Thursday: 4
    monday = date(2026, 11, 23)
    assert not approval_overdue(monday, date(2026, 11, 26)) and approval_overdue(monday, date(2026, 11, 27))


def test_previous_week_crosses_years():
    assert previous_week("2026-W48") == "2026-W47"
    assert previous_week("2027-W01") == "2026-W53"
    assert previous_week("2026-W01") == "2025-W52"


# -- approvals chased --------------------------------------------------------------------------------
WAITING = [{"manager_id": "m2", "project_ids": ["p3", "p2"]}, {"manager_id": "m1", "project_ids": ["p1"]}]


def chase(c, submission="s1", waiting=WAITING, today=date(2026, 12, 3)):
    c.chase(employee_id="e1", week="2026-W48", submission_id=submission, submitted_on=FRIDAY.isoformat(),
            waiting=waiting, today=today)


def test_an_overdue_submission_chases_each_waiting_manager_once():
    c = ApprovalChase(ApprovalChase.id_for("e1", "2026-W48"))
    chase(c)
    assert recorded(c) == [("ApprovalsOverdue", {
        "employee_id": "e1", "week": "2026-W48", "submission_id": "s1", "submitted_on": "2026-11-27",
        "working_days": 4, "managers": [{"manager_id": "m1", "project_ids": ["p1"]},
                                        {"manager_id": "m2", "project_ids": ["p2", "p3"]}],
        "detected_on": "2026-12-03"})]
    again = given(ApprovalChase, c.id, *recorded(c))
    chase(again, today=date(2026, 12, 4))
    assert recorded(again) == []


def test_a_manager_not_chased_yet_and_a_new_submission_are_chased():
    c = given(ApprovalChase, "x", ("ApprovalsOverdue", {"submission_id": "s1", "managers": [
        {"manager_id": "m1", "project_ids": ["p1"]}]}))
    chase(c)
    ((_, data),) = recorded(c)
    assert [m["manager_id"] for m in data["managers"]] == ["m2"]
    resubmitted = given(ApprovalChase, "x", *recorded(c))
    chase(resubmitted, submission="s2", waiting=WAITING[1:])
    ((_, data),) = recorded(resubmitted)
    assert data["submission_id"] == "s2" and [m["manager_id"] for m in data["managers"]] == ["m1"]


def test_no_manager_known_chases_nobody():
    c = ApprovalChase("x")
    chase(c, waiting=[{"manager_id": None, "project_ids": ["p1"]}])
    assert recorded(c) == []


# -- missed hours two weeks in a row -----------------------------------------------------------------
def found(employee, managers=("m1",)):
    return {"employee_id": employee, "manager_ids": list(managers), "weeks": [
        {"week": "x", "logged_hours": 0, "expected_hours": 37.5}, {"week": "y", "logged_hours": 10,
                                                                   "expected_hours": 37.5}]}


def test_a_run_starts_when_the_week_before_had_no_run_and_goes_on_untold():
    w47 = given(MissedHours, "2026-W47", ("HoursMissedInARow", {"employees": [
        {"employee_id": "a", "run_from": "2026-W45", "new_run": False}]}))
    w48 = MissedHours("2026-W48")
    w48.check([found("b", ["m2", "m1", "m1"]), found("a")], w47, "2026-11-30T09:00:00+00:00")
    ((type, data),) = recorded(w48)
    assert type == "HoursMissedInARow"
    assert data["week"] == "2026-W48" and data["previous_week"] == "2026-W47"
    assert [(e["employee_id"], e["run_from"], e["new_run"], e["manager_ids"]) for e in data["employees"]] == [
        ("a", "2026-W45", False, ["m1"]), ("b", "2026-W47", True, ["m1", "m2"])]
    # the next week: b's run goes on (told already); c's starts
    w49 = MissedHours("2026-W49")
    w49.check([found("b"), found("c")], given(MissedHours, "2026-W48", *recorded(w48)), "t")
    ((_, data),) = recorded(w49)
    assert [(e["employee_id"], e["run_from"], e["new_run"]) for e in data["employees"]] == [
        ("b", "2026-W47", False), ("c", "2026-W48", True)]


def test_a_run_broken_by_one_good_week_starts_again():
    w48 = given(MissedHours, "2026-W48", ("HoursMissedInARow", {"employees": []}))  # a was fine in W48
    w49 = MissedHours("2026-W49")
    w49.check([found("a")], w48, "t")
    ((_, data),) = recorded(w49)
    assert data["employees"][0]["new_run"] is True and data["employees"][0]["run_from"] == "2026-W48"


def test_a_week_is_checked_once_even_with_nobody_found():
    w = MissedHours("2026-W48")
    w.check([], MissedHours("2026-W47"), "t")
    assert recorded(w)[0][1]["employees"] == []
    again = given(MissedHours, "2026-W48", *recorded(w))
    again.check([found("a")], MissedHours("2026-W47"), "t")
    assert recorded(again) == []


# -- per-kind preferences ----------------------------------------------------------------------------
def test_preferences_keep_per_kind_overrides_of_each_channel():
    p = Preferences("u1")
    p.set(True, True, [], {"hours_missed": {"email": False}, "approval_overdue": {"email": True, "inapp": None},
                           "timesheet_reminder": {}})
    assert recorded(p) == [("PreferencesSet", {"user_id": "u1", "email": True, "inapp": True, "muted_kinds": [],
                                               "kinds": {"approval_overdue": {"email": True},
                                                         "hours_missed": {"email": False}}})]
    same = given(Preferences, "u1", *recorded(p))
    same.set(True, True, [], {"approval_overdue": {"email": True}, "hours_missed": {"email": False}})
    assert recorded(same) == []
    with pytest.raises(RuleViolation) as exc:
        same.set(True, True, [], {"nope": {"email": True}})
    assert exc.value.code == "preferences.unknown_kind"


def test_channels_per_kind_muted_then_override_then_the_persons_channels():
    prefs = {"email": False, "inapp": True, "muted_kinds": ["timesheet_reminder"],
             "kinds": {"approval_overdue": {"email": True}, "hours_missed": {"inapp": False},
                       "timesheet_reminder": {"email": True}}}
    assert channels_for(prefs, "approval_overdue") == {"email": True, "inapp": True}
    assert channels_for(prefs, "hours_missed") == {"email": False, "inapp": False}
    assert channels_for(prefs, "member_assigned") == {"email": False, "inapp": True}
    assert channels_for(prefs, "timesheet_reminder") == {"email": False, "inapp": False}  # muted wins
    assert channels_for({"email": True, "inapp": True, "muted_kinds": []}, "hours_missed") == {
        "email": True, "inapp": True}  # no kinds at all (as before per-kind preferences)


def test_an_old_preferences_event_reads_as_having_no_per_kind_override():
    v1 = RecordedEvent(id="e", stream="notification-prefs_u1", version=0, position=1, type="PreferencesSet",
                       schema_version=1, data={"user_id": "u1", "email": False, "inapp": True,
                                               "muted_kinds": ["member_assigned"]},
                       recorded_at=None, metadata={})
    up = events.upcast(v1)
    assert up.schema_version == 2 and up.data["kinds"] == {}
    assert events.schema("PreferencesSet").validate(up.data) == {}
    p = given(Preferences, "u1", ("PreferencesSet", v1.data))  # an aggregate given the v1 data reads it too
    assert (p.email, p.inapp, p.muted_kinds, p.kinds) == (False, True, ["member_assigned"], {})


def test_the_follow_up_kinds_are_kinds():
    assert {"approval_overdue", "hours_missed"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_follows_its_override_then_the_persons_channels(kind):
    assert channels_for({"email": True, "inapp": True, "muted_kinds": [kind], "kinds": {}}, kind) == {
        "email": False, "inapp": False}
    assert channels_for({"email": False, "inapp": False, "muted_kinds": [], "kinds": {kind: {"email": True}}},
                        kind) == {"email": True, "inapp": False}
    assert channels_for({"email": True, "inapp": True, "muted_kinds": [], "kinds": {kind: {"inapp": False}}},
                        kind) == {"email": True, "inapp": False}


def test_an_inbox_of_version_1_is_rebuilt_and_old_preferences_read_as_before(tmp_path):
    # given a store with a v1 PreferencesSet and the inbox views of version 1 (no per-kind column)
    store = SQLiteEventStore(str(tmp_path / "events.db"))
    store.append("notification-prefs_u1", [NewEvent("PreferencesSet", {
        "user_id": "u1", "email": False, "inapp": True, "muted_kinds": ["member_assigned"]}, schema_version=1)],
        ANY)
    views = ViewStore(":memory:")
    with views.transaction() as db:
        db.execute("CREATE TABLE preferences (user_id TEXT PRIMARY KEY, email INTEGER, inapp INTEGER,"
                   " muted_kinds TEXT)")
        db.execute("""INSERT INTO preferences VALUES ('u1', 0, 1, '["member_assigned"]')""")
        views.set_checkpoint("inbox", store.head_position(), db, version=1)
    # when the service starts with version 2
    ProjectionRunner(store, views, [Inbox()], registry=events).run_once()
    # then the person's preferences read as they did, with no per-kind override
    shown = views.read(lambda db: preferences_shown(db, "u1"))
    assert {k: v for k, v in shown.items() if k != "by_kind"} == {
        "user_id": "u1", "email": False, "inapp": True, "muted_kinds": ["member_assigned"], "kinds": {}}
    assert shown["by_kind"]["member_assigned"] == {"email": False, "inapp": False}
    assert shown["by_kind"]["hours_missed"] == {"email": False, "inapp": True}
