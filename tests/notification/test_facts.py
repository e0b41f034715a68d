"""The ``Facts`` read model and who is reminded, on an in-memory SQLite: given recorded resource and
timesheet events, then ``reminder_candidates``. No broker (the upgrade test alone uses a store file)."""
import sqlite3
from datetime import datetime, timezone

import pytest

from services.notification.projections import Facts
from services.notification.views import capacity_on, reminder_candidates
from shared.eventstore.base import ANY, NewEvent, RecordedEvent
from shared.eventstore.sqlite import SQLiteEventStore
from shared.projections import ProjectionRunner, ViewStore

REGISTERED_AT = "2026-11-02T08:00:00+00:00"  # Monday of 2026-W45, as the resource service recorded it


@pytest.fixture
def db():
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    Facts().setup(conn)
    yield conn
    conn.close()


def given(db, *events, registered_at=REGISTERED_AT):
    """Mirrored source events (type, data), as the consumer records them: the origin's time in metadata."""
    facts = Facts()
    for i, (type, data) in enumerate(events):
        facts.apply(db, RecordedEvent(
            id=f"e{i}", stream=f"notification~resource-{data.get('resource_id') or data.get('employee_id')}",
            version=i, position=i + 1, type=type, schema_version=1, data=data,
            recorded_at=datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc),  # when we received it
            metadata={"origin": {"service": "resource", "stream": "s", "version": i, "position": i + 1,
                                 "recorded_at": registered_at}}))


def registered(rid, weekly=37.5, working_days=(1, 2, 3, 4, 5)):
    return ("ResourceRegistered", {"resource_id": rid, "name": rid, "email": f"{rid}@example.com",
                                   "weekly_capacity_hours": weekly, "skills": [], "working_days": list(working_days),
                                   "title": None})


def logged(rid, week, date, hours):
    return ("TimeLogged", {"entry_id": f"{rid}-{date}", "employee_id": rid, "week": week, "project_id": "p",
                           "task_id": None, "date": date, "hours": hours, "billable": True, "description": ""})


def updated(rid, changes, previous, effective_from):
    return ("ResourceUpdated", {"resource_id": rid, "changes": changes, "previous": previous,
                                "effective_from": effective_from})


def reminded(db, week):
    return {c["resource_id"]: (c["logged_centi"], c["expected_centi"]) for c in reminder_candidates(db, week)}


def test_a_capacity_change_effective_later_does_not_change_an_earlier_week(db):
    # given 37.5 h/week, 24 h logged in W48, and 20 h/week from Monday 2026-12-07 (W50)
    given(db, registered("r2"), logged("r2", "2026-W48", "2026-11-24", 24),
          updated("r2", {"weekly_capacity_hours": 20}, {"weekly_capacity_hours": 37.5}, "2026-12-07"))
    # then W48 still expects 37.5 h: r2 is reminded
    assert reminded(db, "2026-W48") == {"r2": (2400, 3750)}
    # and W50 expects 20 h
    assert reminded(db, "2026-W50") == {"r2": (0, 2000)}
    assert capacity_on(db, "r2", datetime(2026, 11, 29).date()) == 3750
    assert capacity_on(db, "r2", datetime(2026, 12, 7).date()) == 2000


def test_working_days_change_from_their_effective_date_keeping_the_capacity_in_force(db):
    # given 40 h over Mon-Fri, then Mon/Wed/Fri from 2026-11-16 (W47), then 30 h from 2026-11-23 (W48)
    given(db, registered("r", weekly=40),
          updated("r", {"working_days": [1, 3, 5]}, {"working_days": [1, 2, 3, 4, 5]}, "2026-11-16"),
          updated("r", {"weekly_capacity_hours": 30}, {"weekly_capacity_hours": 40}, "2026-11-23"),
          logged("r", "2026-W47", "2026-11-16", 13.33), logged("r", "2026-W47", "2026-11-18", 13.33),
          ("AbsenceRegistered", {"resource_id": "r", "absence_id": "a1", "starts_on": "2026-11-20",
                                 "ends_on": "2026-11-20", "kind": "vacation", "hours_per_day": None}))
    # then W47: 40 h over Mon/Wed/Fri is 13.33/13.33/13.34, Friday off: 26.66 expected, 26.66 logged
    assert reminded(db, "2026-W46") == {"r": (0, 4000)}  # before: Mon-Fri at 40 h
    assert "r" not in reminded(db, "2026-W47")
    # and W48 keeps Mon/Wed/Fri at 30 h
    assert reminded(db, "2026-W48") == {"r": (0, 3000)}


def test_people_registered_after_the_week_ended_are_not_reminded_for_it(db):
    given(db, registered("early"), registered_at="2026-11-08T23:59:00+00:00")  # Sunday of W45
    given(db, registered("late"), registered_at="2026-11-09T00:00:00+00:00")  # Monday of W46
    assert set(reminded(db, "2026-W45")) == {"early"}
    assert set(reminded(db, "2026-W46")) == {"early", "late"}


def absence(rid, absence_id, day, hours_per_day=None):
    return ("AbsenceRegistered", {"resource_id": rid, "absence_id": absence_id, "starts_on": day, "ends_on": day,
                                  "kind": "vacation", "hours_per_day": hours_per_day})


def test_two_resources_absences_with_the_same_id_are_both_kept(db):
    # given an absence id the resource service derived from one command_id sent to two resources
    given(db, registered("r1"), registered("r2"),
          absence("r1", "shared-absence", "2026-12-21"), absence("r2", "shared-absence", "2026-12-22"))
    # then each resource's day off counts in W52 (37.5 h over Mon-Fri: 7.5 h a day)
    assert reminded(db, "2026-W52") == {"r1": (0, 3000), "r2": (0, 3000)}
    # when r2's absence is cancelled
    given(db, ("AbsenceCancelled", {"resource_id": "r2", "absence_id": "shared-absence"}))
    # then r1's stays
    assert reminded(db, "2026-W52") == {"r1": (0, 3000), "r2": (0, 3750)}


def test_two_employees_entries_with_the_same_id_both_count(db):
    # given an entry id the timesheet service derived from one command_id used by two employees
    entry = {"entry_id": "shared-entry", "project_id": "p", "task_id": None, "hours": 30, "billable": True,
             "description": ""}
    given(db, registered("e1"), registered("e2"),
          ("TimeLogged", {**entry, "employee_id": "e1", "week": "2026-W48", "date": "2026-11-23"}),
          ("TimeLogged", {**entry, "employee_id": "e2", "week": "2026-W48", "date": "2026-11-24", "hours": 10}))
    # then each employee's hours count for their own week
    assert reminded(db, "2026-W48") == {"e1": (3000, 3750), "e2": (1000, 3750)}
    # when e2 deletes theirs
    given(db, ("TimeEntryDeleted", {**entry, "employee_id": "e2", "week": "2026-W48", "date": "2026-11-24",
                                    "hours": 10, "reason": None, "moved_to_week": None}))
    # then e1's entry is still there
    assert reminded(db, "2026-W48") == {"e1": (3000, 3750), "e2": (0, 3750)}


def test_an_entry_moved_to_another_week_counts_in_the_new_week_only(db):
    entry = {"entry_id": "moved", "employee_id": "e", "project_id": "p", "task_id": None, "hours": 8,
             "billable": True, "description": ""}
    # given an entry in W48, moved to W49: logged there first, then deleted from W48 (either order must work)
    given(db, registered("e"), ("TimeLogged", {**entry, "week": "2026-W48", "date": "2026-11-23"}),
          ("TimeLogged", {**entry, "week": "2026-W49", "date": "2026-11-30", "moved_from_week": "2026-W48"}),
          ("TimeEntryDeleted", {**entry, "week": "2026-W48", "date": "2026-11-23", "reason": None,
                                "moved_to_week": "2026-W49"}))
    assert reminded(db, "2026-W48") == {"e": (0, 3750)}
    assert reminded(db, "2026-W49") == {"e": (800, 3750)}


def test_views_of_the_previous_version_are_rebuilt_with_both_absences(tmp_path):
    # given a store holding two resources' absences with the same id, and views left by version 2
    # (absences keyed by absence_id alone, so only the last one was kept)
    store = SQLiteEventStore(str(tmp_path / "events.db"))
    for type, data in [registered("r1"), registered("r2"), absence("r1", "shared", "2026-12-21"),
                       absence("r2", "shared", "2026-12-22")]:
        store.append(f"notification~resource-{data['resource_id']}", [NewEvent(type, data, metadata={"origin": {"recorded_at": REGISTERED_AT}})], ANY)
    views = ViewStore(":memory:")
    with views.transaction() as db:
        db.execute("CREATE TABLE absences (absence_id TEXT PRIMARY KEY, resource_id TEXT, starts_on TEXT,"
                   " ends_on TEXT, hours_per_day INTEGER)")
        db.execute("INSERT INTO absences VALUES ('shared', 'r2', '2026-12-22', '2026-12-22', NULL)")
        views.set_checkpoint("facts", store.head_position(), db, version=2)
    # when the service starts with this version
    ProjectionRunner(store, views, [Facts()]).run_once()
    # then the facts were dropped and replayed: both days off count
    assert views.read(lambda db: reminded(db, "2026-W52")) == {"r1": (0, 3000), "r2": (0, 3000)}
