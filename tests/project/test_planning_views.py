"""The project bookings read model over the resource service's booking events (those of the staffing change too:
BookingChanged, BookingConfirmed), applied to a plain SQLite database."""
import sqlite3
from datetime import datetime, timezone

from services.project.planning_views import ProjectBookingsView, bookings_of
from shared.eventstore.base import RecordedEvent

PID, EMP = "p1", "e1"


def apply(view, db, event_type, **data):
    event = RecordedEvent(id=f"{event_type}-{len(data)}", stream="resource-e1", version=0, position=1,
                          type=event_type, schema_version=1, data=data, recorded_at=datetime.now(timezone.utc),
                          metadata={})
    getattr(view, f"on_{event_type}")(db, event)


def booked(**extra):
    return dict(resource_id=EMP, booking_id="b1", project_id=PID, starts_on="2026-03-02", ends_on="2026-03-13",
                hours_per_day=7.5, tentative=True) | extra


def test_bookings_follow_changes_confirmations_and_cancellations():
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    view = ProjectBookingsView()
    view.setup(db)
    apply(view, db, "ResourceBooked", **booked(task_id="t1"))
    apply(view, db, "BookingChanged", **booked(ends_on="2026-03-20", hours_per_day=4, previous={"ends_on": "x"}))
    [row] = bookings_of(db, PID)
    assert (row["ends_on"], row["hours_per_day"], row["task_id"], row["tentative"]) == ("2026-03-20", 4, "t1", 1)
    apply(view, db, "BookingConfirmed", booking_id="b1", resource_id=EMP, project_id=PID)
    assert bookings_of(db, PID)[0]["tentative"] == 0
    apply(view, db, "BookingCancelled", resource_id=EMP, booking_id="b1", project_id=PID, reason="x",
          cancelled_from="2026-03-10")
    assert bookings_of(db, PID)[0]["ends_on"] == "2026-03-09"
    apply(view, db, "BookingCancelled", resource_id=EMP, booking_id="b1", project_id=PID, reason="x",
          cancelled_from="2026-03-01")
    assert bookings_of(db, PID) == []
    apply(view, db, "ResourceBooked", **booked(booking_id="b2"))
    apply(view, db, "ResourceDeactivated", resource_id=EMP, cancelled_booking_ids=["b2"])
    assert bookings_of(db, PID) == []
