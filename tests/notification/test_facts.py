"""The ``Facts`` read model and who is reminded, on an in-memory SQLite: given recorded resource and
timesheet events, then ``reminder_candidates``. No broker, no files."""
import sqlite3
from datetime import datetime, timezone

import pytest

from services.notification.projections import Facts, capacity_on, reminder_candidates
from shared.eventstore.base import RecordedEvent

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
