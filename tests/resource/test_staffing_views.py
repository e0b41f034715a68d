"""The resources read model takes BookingChanged and BookingConfirmed with the aggregate's own handlers: after them
its snapshot is the aggregate rebuilt from the same events (an in-memory SQLite read model, no service)."""
import json
import sqlite3
from datetime import datetime, timezone

from services.resource.domain import Resource
from services.resource.projections import ResourcesView
from services.resource.staffing import resources_by_id
from shared.eventstore.base import RecordedEvent
from shared.testing import given
from tests.resource.test_domain import P1, R, booked, registered

CHANGED = ("BookingChanged", {"booking_id": "b1", "resource_id": R, "project_id": P1, "starts_on": "2030-01-08",
                              "ends_on": "2030-01-10", "hours_per_day": 2.5, "tentative": True,
                              "previous": {"starts_on": "2030-01-07", "hours_per_day": 4}})
CONFIRMED = ("BookingConfirmed", {"booking_id": "b1", "resource_id": R, "project_id": P1})


def test_the_read_model_applies_changed_and_confirmed_bookings_as_the_aggregate_does():
    events = [registered(), booked("b1", "2030-01-07", "2030-01-09", 4, tentative=True), CHANGED, CONFIRMED]
    db = sqlite3.connect(":memory:")
    view = ResourcesView()
    view.setup(db)
    for version, (type_, data) in enumerate(events):
        event = RecordedEvent(id=f"e{version}", stream=f"resource-{R}", version=version, position=version + 1,
                              type=type_, schema_version=1, data=data, recorded_at=datetime.now(timezone.utc),
                              metadata={})
        getattr(view, f"on_{type_}")(db, event)
    [from_view] = resources_by_id(db, [R, "nobody"])
    from_stream = given(Resource, R, *events)
    assert from_view.to_state() == {**from_stream.to_state(), "version": 3}
    assert json.loads(db.execute("SELECT state FROM resources").fetchone()[0])["bookings"] == [{
        "id": "b1", "project_id": P1, "starts_on": "2030-01-08", "ends_on": "2030-01-10", "hours_per_day": 250,
        "tentative": False, "active": True}]
