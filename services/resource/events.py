"""The resource service's event types (one schema per type and version). See docs/events.md."""
from marshmallow import Schema, fields, validate

from shared import reservations
from shared.events import EventRegistry

events = EventRegistry()
reservations.register_events(events)  # KeyReserved, KeyReleased: the e-mail reservations (resourceemail-*)

Hours = fields.Float  # JSON numbers of hours, at most 2 decimals (the domain writes them with shared.validation.hours)


@events.register("ResourceRegistered", version=1)
class ResourceRegisteredV1(Schema):
    resource_id = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    weekly_capacity_hours = Hours(required=True)
    skills = fields.List(fields.String(), required=True)
    working_days = fields.List(fields.Integer(), required=True)
    title = fields.String(required=True, allow_none=True)


@events.register("ResourceUpdated", version=1)
class ResourceUpdatedV1(Schema):
    resource_id = fields.String(required=True)
    changes = fields.Dict(required=True)
    previous = fields.Dict(required=True)
    effective_from = fields.String(required=True, allow_none=True)


@events.register("ResourceDeactivated", version=1)
class ResourceDeactivatedV1(Schema):
    resource_id = fields.String(required=True)
    cancelled_booking_ids = fields.List(fields.String(), required=True)


@events.register("ResourceBooked", version=1)
class ResourceBookedV1(Schema):
    resource_id = fields.String(required=True)
    booking_id = fields.String(required=True)
    project_id = fields.String(required=True)
    starts_on = fields.String(required=True)
    ends_on = fields.String(required=True)
    hours_per_day = Hours(required=True)
    tentative = fields.Boolean(required=True)


@events.register("BookingCancelled", version=1)
class BookingCancelledV1(Schema):
    resource_id = fields.String(required=True)
    booking_id = fields.String(required=True)
    project_id = fields.String(required=True)
    reason = fields.String(required=True)
    # Added: null = the whole booking; a date = only the days from then on (the booking now ends the day before).
    cancelled_from = fields.String(required=True, allow_none=True)


@events.register("AbsenceRegistered", version=1)
class AbsenceRegisteredV1(Schema):
    resource_id = fields.String(required=True)
    absence_id = fields.String(required=True)
    starts_on = fields.String(required=True)
    ends_on = fields.String(required=True)
    kind = fields.String(required=True)
    hours_per_day = Hours(required=True, allow_none=True)


@events.register("AbsenceCancelled", version=1)
class AbsenceCancelledV1(Schema):
    resource_id = fields.String(required=True)
    absence_id = fields.String(required=True)


class OverbookedDay(Schema):
    date = fields.String(required=True)
    capacity_hours = Hours(required=True)
    absence_hours = Hours(required=True)
    booked_hours = Hours(required=True)
    excess_hours = Hours(required=True)
    project_ids = fields.List(fields.String(), required=True)


class Trigger(Schema):
    kind = fields.String(required=True)  # booking | absence | capacity
    id = fields.String(required=True, allow_none=True)


@events.register("ResourceOverbooked", version=1)
class ResourceOverbookedV1(Schema):
    resource_id = fields.String(required=True)
    days = fields.List(fields.Nested(OverbookedDay), required=True)
    excess_hours = Hours(required=True)
    trigger = fields.Nested(Trigger, required=True)  # added: what made the days go over


# Internal stream ``resourceemail-<sha1 of email>``, never published: how reservations were written before the kit's
# KeyReserved/KeyReleased, still read (``EmailReservation``).
@events.register("EmailReserved", version=1, internal=True)
class EmailReservedV1(Schema):
    email = fields.String(required=True)
    resource_id = fields.String(required=True)
    reserved_at = fields.Float(required=True)


@events.register("EmailReleased", version=1, internal=True)
class EmailReleasedV1(Schema):
    email = fields.String(required=True)
    resource_id = fields.String(required=True)
    reason = fields.String(required=True)


# -- money (issue 16) ----------------------------------------------------------------------------------------------
@events.register("CostRateSet", version=1)
class CostRateSetV1(Schema):
    """What an hour of the person costs the company from ``effective_from`` (YYYY-MM-DD) on: a decimal string with
    2 decimals in ``currency``, or null (no cost rate from then)."""

    resource_id = fields.String(required=True)
    rate = fields.String(required=True, allow_none=True)
    currency = fields.String(required=True)
    effective_from = fields.String(required=True)


# -- staffing (issue 17): bookings edited and confirmed -------------------------------------------
BOOKING_FIELDS = ("starts_on", "ends_on", "hours_per_day", "tentative")


@events.register("BookingChanged", version=1)
class BookingChangedV1(Schema):
    """A booking's dates, hours per day or tentative flag changed: its full state after the change, and in
    ``previous`` the old values of the fields that changed (and only those)."""

    booking_id = fields.String(required=True)
    resource_id = fields.String(required=True)
    project_id = fields.String(required=True)
    starts_on = fields.String(required=True)
    ends_on = fields.String(required=True)
    hours_per_day = Hours(required=True)
    tentative = fields.Boolean(required=True)
    previous = fields.Dict(keys=fields.String(validate=validate.OneOf(BOOKING_FIELDS)), required=True)


@events.register("BookingConfirmed", version=1)
class BookingConfirmedV1(Schema):
    """A tentative booking confirmed: from now on it counts as booked (and towards over-allocation)."""

    booking_id = fields.String(required=True)
    resource_id = fields.String(required=True)
    project_id = fields.String(required=True)
