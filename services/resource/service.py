"""The resource nameko service: its entrypoints, each loading its arguments and calling its handler (handlers.py)
with today's date or the time, the only clock the resource rules see."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.kit import Chronicle
from shared.validation import load

from . import handlers, schemas
from .domain import EmailReservation
from .events import events
from .projections import projections
from .reactors import ProjectEnded


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class ResourceService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "resource"
    chronicle = Chronicle(
        categories=CATEGORIES["resource"], internal_categories=[EmailReservation.category], events=events,
        projections=projections, sources=sources("project", "timesheet"), reactors=lambda: [ProjectEnded()],
    )

    # -- people -------------------------------------------------------------------------------
    @rpc
    def register_resource(self, **kwargs):
        args = load(schemas.RegisterResourceSchema, kwargs)
        return handlers.register_resource(args, self.chronicle, today=today(), now=time.time())

    @rpc
    def update_resource(self, **kwargs):
        args = load(schemas.UpdateResourceSchema, kwargs)
        return handlers.update_resource(args, self.chronicle, today=today(), now=time.time())

    @rpc
    def deactivate_resource(self, **kwargs):
        return handlers.deactivate_resource(load(schemas.ResourceIdSchema, kwargs), self.chronicle, today=today())

    @rpc
    def get_resource(self, **kwargs):
        return handlers.get_resource(load(schemas.GetResourceSchema, kwargs), self.chronicle, today=today())

    @rpc
    def list_resources(self, **kwargs):
        return handlers.list_resources(load(schemas.ListResourcesSchema, kwargs), self.chronicle, today=today())

    # -- bookings and absences ----------------------------------------------------------------
    @rpc
    def book_resource(self, **kwargs):
        return handlers.book_resource(load(schemas.BookResourceSchema, kwargs), self.chronicle)

    @rpc
    def cancel_booking(self, **kwargs):
        return handlers.cancel_booking(load(schemas.CancelBookingSchema, kwargs), self.chronicle)

    @rpc
    def register_absence(self, **kwargs):
        return handlers.register_absence(load(schemas.RegisterAbsenceSchema, kwargs), self.chronicle)

    @rpc
    def cancel_absence(self, **kwargs):
        return handlers.cancel_absence(load(schemas.CancelAbsenceSchema, kwargs), self.chronicle)

    # -- planning -----------------------------------------------------------------------------
    @rpc
    def availability(self, **kwargs):
        """Straight from the resource's stream, so always up to date."""
        return handlers.availability(load(schemas.AvailabilitySchema, kwargs), self.chronicle)

    @rpc
    def find_available(self, **kwargs):
        return handlers.find_available(load(schemas.FindAvailableSchema, kwargs), self.chronicle)

    @rpc
    def utilisation(self, **kwargs):
        return handlers.utilisation(load(schemas.UtilisationSchema, kwargs), self.chronicle)

    # -- audit --------------------------------------------------------------------------------
    @rpc
    def history(self, **kwargs):
        return handlers.history(load(schemas.HistorySchema, kwargs), self.chronicle)

    # -- money: cost rates (issue 16) ---------------------------------------------------------------------------------
    @rpc
    def set_cost_rate(self, **kwargs):
        """What an hour of the person costs the company from a date on (null: none from then). For admins."""
        return handlers.set_cost_rate(load(schemas.SetCostRateSchema, kwargs), self.chronicle)

    @rpc
    def cost_rates(self, **kwargs):
        """The person's cost rates by date and the chain of every change. For admins."""
        return handlers.cost_rates(load(schemas.CostRatesSchema, kwargs), self.chronicle)

    # -- staffing (issue 17) ------------------------------------------------------------------
    @rpc
    def change_booking(self, **kwargs):
        return handlers.change_booking(load(schemas.ChangeBookingSchema, kwargs), self.chronicle)

    @rpc
    def confirm_booking(self, **kwargs):
        return handlers.confirm_booking(load(schemas.ConfirmBookingSchema, kwargs), self.chronicle)

    @rpc
    def project_staffing(self, **kwargs):
        return handlers.project_staffing(load(schemas.ProjectStaffingSchema, kwargs), self.chronicle)

    @rpc
    def team_overview(self, **kwargs):
        return handlers.team_overview(load(schemas.TeamOverviewSchema, kwargs), self.chronicle)
