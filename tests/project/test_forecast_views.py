"""The forecast's read model keeps each fact with the positions it held between: read as of any earlier event, it
gives exactly what it gave when that event was the last one (what the forecast watch relies on). No broker: the
view is fed events built through the producers' own registries."""
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.project.forecast_views import ForecastFactsView, project_facts, waiting_weeks
from services.resource.events import events as resource_events
from services.timesheet.events import events as timesheet_events
from shared.eventstore.base import RecordedEvent
from shared.projections import ViewStore

PROJECTS = ("p-1", "p-2")
PEOPLE = ("ann", "bob")
ENTRIES = ("e-1", "e-2", "e-3")
BOOKINGS = ("b-1", "b-2", "b-3")
DAYS = [f"2026-11-{d:02d}" for d in range(16, 30)]
RECORDED_AT = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)

entry_events = st.tuples(st.sampled_from(["TimeLogged", "TimeEntryAmended", "TimeEntryDeleted"]),
                         st.sampled_from(ENTRIES), st.sampled_from(PEOPLE), st.sampled_from(PROJECTS),
                         st.sampled_from(DAYS), st.integers(1, 1000))
booking_events = st.tuples(st.sampled_from(["ResourceBooked", "BookingCancelled"]), st.sampled_from(BOOKINGS),
                           st.sampled_from(PEOPLE), st.sampled_from(PROJECTS), st.sampled_from(DAYS),
                           st.integers(0, 6), st.booleans(), st.sampled_from([None, *DAYS]))
person_events = st.tuples(st.sampled_from(["AbsenceRegistered", "AbsenceCancelled", "ResourceRegistered",
                                           "ResourceUpdated"]), st.sampled_from(["a-1", "a-2"]),
                          st.sampled_from(PEOPLE), st.sampled_from(DAYS), st.integers(0, 3),
                          st.sampled_from([None, 200]), st.lists(st.integers(1, 7), min_size=1, max_size=7))


def build(step) -> tuple[str, dict, object]:
    kind = step[0]
    if kind in ("TimeLogged", "TimeEntryAmended", "TimeEntryDeleted"):
        _, entry, person, project, day, centi = step
        data = {"entry_id": entry, "employee_id": person, "week": "2026-W48", "project_id": project, "task_id": None,
                "date": day, "hours": centi / 100, "billable": True}
        if kind == "TimeLogged":
            data["description"] = ""
        elif kind == "TimeEntryAmended":
            data.update(description="", previous={}, reason="r")
        else:
            data["reason"] = "r"
        return kind, data, timesheet_events
    if kind in ("ResourceBooked", "BookingCancelled"):
        _, booking, person, project, day, length, tentative, cut = step
        if kind == "ResourceBooked":
            end = DAYS[min(len(DAYS) - 1, DAYS.index(day) + length)]
            data = {"resource_id": person, "booking_id": booking, "project_id": project, "starts_on": day,
                    "ends_on": end, "hours_per_day": 4, "tentative": tentative}
        else:
            data = {"resource_id": person, "booking_id": booking, "project_id": project, "reason": "r",
                    "cancelled_from": cut}
        return kind, data, resource_events
    _, absence, person, day, length, per_day, working = step
    if kind == "AbsenceRegistered":
        data = {"resource_id": person, "absence_id": absence, "starts_on": day,
                "ends_on": DAYS[min(len(DAYS) - 1, DAYS.index(day) + length)], "kind": "vacation",
                "hours_per_day": None if per_day is None else per_day / 100}
    elif kind == "AbsenceCancelled":
        data = {"resource_id": person, "absence_id": absence}
    elif kind == "ResourceRegistered":
        data = {"resource_id": person, "name": person, "email": f"{person}@example.com",
                "weekly_capacity_hours": 37.5, "skills": [], "working_days": working, "title": None}
    else:
        data = {"resource_id": person, "changes": {"working_days": working}, "previous": {}, "effective_from": day}
    return kind, data, resource_events


def snapshot(db):
    return {p: project_facts(db, p) for p in PROJECTS}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(entry_events, booking_events, person_events), max_size=30))
def test_the_facts_as_of_an_event_are_those_read_right_after_it(steps):
    db = ViewStore(":memory:").conn
    view = ForecastFactsView()
    view.setup(db)
    seen = {}
    for position, step in enumerate(steps, start=1):
        event_type, data, registry = build(step)
        version = registry.validate(event_type, data)
        view.apply(db, RecordedEvent(id=str(position), stream="s", version=position, position=position,
                                     type=event_type, schema_version=version, data=data, recorded_at=RECORDED_AT,
                                     metadata={}))
        seen[position] = snapshot(db)
    for position, facts in seen.items():
        assert {p: project_facts(db, p, as_of=position) for p in PROJECTS} == facts, position


def test_a_cancellation_from_a_date_keeps_the_days_before_and_approvals_stop_the_wait():
    db = ViewStore(":memory:").conn
    view = ForecastFactsView()
    view.setup(db)
    steps = [
        ("ResourceBooked", {"resource_id": "ann", "booking_id": "b", "project_id": "p-1", "starts_on": "2026-11-23",
                            "ends_on": "2026-11-27", "hours_per_day": 4, "tentative": False}),
        ("BookingCancelled", {"resource_id": "ann", "booking_id": "b", "project_id": "p-1", "reason": "r",
                              "cancelled_from": "2026-11-25"}),
        ("TimesheetSubmitted", {"employee_id": "ann", "week": "2026-W47", "total_hours": 4, "actor_id": "ann",
                                "projects": [{"project_id": "p-1", "hours": 4, "billable_hours": 4, "manager_id": None},
                                             {"project_id": "p-2", "hours": 1, "billable_hours": 1,
                                              "manager_id": None}]}),
        ("TimesheetApproved", {"employee_id": "ann", "week": "2026-W47", "approver_id": "m", "project_ids": ["p-2"],
                               "status": "partially_approved", "lines": []}),
    ]
    for position, (event_type, data) in enumerate(steps, start=1):
        view.apply(db, RecordedEvent(id=str(position), stream="s", version=position, position=position,
                                     type=event_type, schema_version=1, data=data, recorded_at=RECORDED_AT,
                                     metadata={}))
    [booking] = project_facts(db, "p-1")["bookings"]
    assert (booking.starts_on, booking.ends_on) == ("2026-11-23", "2026-11-24")
    assert project_facts(db, "p-1", as_of=1)["bookings"][0].ends_on == "2026-11-27"
    assert waiting_weeks(db, "p-1") == [{"employee_id": "ann", "week": "2026-W47", "submitted_on": "2026-11-20"}]
    assert waiting_weeks(db, "p-2") == []
