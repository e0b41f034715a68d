"""RPC argument schemas. Unknown fields are rejected (marshmallow's default)."""
import re
from datetime import date, timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.resource.domain import ABSENCE_KINDS, too_much_per_day
from services.resource.staffing import MAX_WEEKS  # the staffing views span at most 53 ISO weeks
from shared.errors import ValidationError as InvalidArguments
from shared.validation import (
    Boolean,
    CommandSchema,
    Hours,
    Id,
    IsoDate,
    Money,
    Position,
    StrictInteger,
    Text,
    text_problem,
)

SKILL_RE = re.compile(r"\A[a-z0-9][a-z0-9+#.\- ]{0,39}\Z")
MAX_RANGE_DAYS = 731  # two years: keeps the day-by-day arithmetic bounded
EFFECTIVE_FROM_PAST_DAYS = 731  # a capacity change may date back at most two years...
EFFECTIVE_FROM_FUTURE_DAYS = 3653  # ...and start at most ten years ahead


class Skill(fields.String):
    """A lowercase slug like ``python``, ``c#``, ``node.js`` or ``project management`` (case is folded)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        if not SKILL_RE.match(value):
            raise ValidationError("Must be 1-40 characters: a-z, 0-9, space and + # . - (starting with a-z or 0-9).")
        return value


class Email(fields.Email):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and text_problem(value):
            raise ValidationError(text_problem(value))
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class _Name(Text):
    """Surrounding spaces are stripped; a blank name is refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        if not value:
            raise ValidationError("Must not be blank.")
        return value


def Name(**kwargs):
    return _Name(validate=validate.Length(min=1, max=200), **kwargs)


Skills = lambda **kw: fields.List(Skill(), validate=validate.Length(max=50), **kw)  # noqa: E731
WorkingDays = lambda **kw: fields.List(  # noqa: E731
    fields.Integer(strict=True, validate=validate.Range(1, 7)), validate=validate.Length(min=1, max=7), **kw)
WeeklyHours = lambda **kw: Hours(maximum=168, allow_zero=True, **kw)  # noqa: E731
DayHours = lambda **kw: Hours(maximum=24, **kw)  # noqa: E731


def check_range(data, start, end):
    if data.get(start) and data.get(end):
        first, last = date.fromisoformat(data[start]), date.fromisoformat(data[end])
        if last < first:
            raise ValidationError(f"Must not be before {start}.", end)
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationError(f"The range may span at most {MAX_RANGE_DAYS} days.", end)


def check_effective_from(value: str | None, today: date) -> None:
    """``update_resource``'s ``effective_from`` must lie within [today - 731 days, today + 3653 days]: a typo
    such as 0226-12-01 is refused rather than taken as a capacity change from the year 226. Checked by the
    service after a retry is recognised (the window moves with today), so it raises the kit's ValidationError."""
    if value is None:
        return
    earliest = today - timedelta(days=EFFECTIVE_FROM_PAST_DAYS)
    latest = today + timedelta(days=EFFECTIVE_FROM_FUTURE_DAYS)
    if not earliest.isoformat() <= value <= latest.isoformat():
        raise InvalidArguments(errors={"effective_from": [
            f"Must be from {earliest.isoformat()} to {latest.isoformat()} (at most {EFFECTIVE_FROM_PAST_DAYS} days"
            f" before today and {EFFECTIVE_FROM_FUTURE_DAYS} days after it)."]})


class RegisterResourceSchema(CommandSchema):
    name = Name(required=True)
    email = Email(required=True)
    weekly_capacity_hours = WeeklyHours(load_default=3750)
    skills = Skills(load_default=list)
    working_days = WorkingDays(load_default=lambda: [1, 2, 3, 4, 5])
    title = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))

    @validates_schema
    def at_most_24_hours_a_day(self, data, **kwargs):
        if "weekly_capacity_hours" in data and "working_days" in data:  # both valid (defaults included)
            problem = too_much_per_day(data["weekly_capacity_hours"], data["working_days"])
            if problem:
                raise ValidationError({"weekly_capacity_hours": [problem], "working_days": [problem]})


class UpdateResourceSchema(CommandSchema):
    resource_id = Id(required=True)
    name = Name()
    email = Email()
    title = Text(allow_none=True, validate=validate.Length(max=200))
    skills = Skills()
    weekly_capacity_hours = WeeklyHours()
    working_days = WorkingDays()
    effective_from = IsoDate(load_default=None, allow_none=True)
    expected_version = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=0))

    @validates_schema
    def some_change(self, data, **kwargs):
        if not set(data) - {"resource_id", "effective_from", "command_id", "expected_version"}:
            raise ValidationError("Give at least one change.", "changes")


class ResourceIdSchema(CommandSchema):
    resource_id = Id(required=True)


class GetResourceSchema(Schema):
    resource_id = Id(required=True)


class ListResourcesSchema(Schema):
    skill = Skill(load_default=None, allow_none=True)
    active = Boolean(load_default=True, allow_none=True)  # None: everyone
    min_position = Position()


class BookResourceSchema(CommandSchema):
    resource_id = Id(required=True)
    project_id = Id(required=True)
    starts_on = IsoDate(required=True)
    ends_on = IsoDate(required=True)
    hours_per_day = DayHours(required=True)
    tentative = Boolean(load_default=False)

    @validates_schema
    def range(self, data, **kwargs):
        check_range(data, "starts_on", "ends_on")


class CancelBookingSchema(CommandSchema):
    resource_id = Id(required=True)
    booking_id = Id(required=True)
    reason = Text(multiline=True, load_default=None, allow_none=True, validate=validate.Length(max=500))


class RegisterAbsenceSchema(CommandSchema):
    resource_id = Id(required=True)
    starts_on = IsoDate(required=True)
    ends_on = IsoDate(required=True)
    kind = fields.String(load_default="vacation", validate=validate.OneOf(ABSENCE_KINDS))
    hours_per_day = DayHours(load_default=None, allow_none=True)

    @validates_schema
    def range(self, data, **kwargs):
        check_range(data, "starts_on", "ends_on")


class CancelAbsenceSchema(CommandSchema):
    resource_id = Id(required=True)
    absence_id = Id(required=True)


class RangeSchema(Schema):
    from_date = IsoDate(required=True)
    to_date = IsoDate(required=True)
    min_position = Position()

    @validates_schema
    def range(self, data, **kwargs):
        check_range(data, "from_date", "to_date")


class AvailabilitySchema(RangeSchema):
    resource_id = Id(required=True)


class FindAvailableSchema(RangeSchema):
    hours_per_day = DayHours(required=True)
    skills = Skills(load_default=list)
    # Staffing (issue 17): partial matches are listed too; 100 asks for the old all-or-nothing match.
    min_coverage_percent = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=0, max=100))


class UtilisationSchema(RangeSchema):
    resource_id = Id(load_default=None, allow_none=True)


class HistorySchema(Schema):
    resource_id = Id(required=True)


# -- money: cost rates (issue 16) -------------------------------------------------------------------------------------
class SetCostRateSchema(CommandSchema):
    resource_id = Id(required=True)
    rate = Money(required=True, allow_none=True)  # null: no cost rate from effective_from
    currency = fields.String(load_default="NOK", validate=validate.Regexp(r"\A[A-Z]{3}\Z",
                                                                          error="A 3-letter ISO currency code."))
    effective_from = IsoDate(required=True)


class CostRatesSchema(Schema):
    resource_id = Id(required=True)


# -- staffing (issue 17) --------------------------------------------------------------------------
class ChangeBookingSchema(CommandSchema):
    resource_id = Id(required=True)
    booking_id = Id(required=True)
    starts_on = IsoDate()
    ends_on = IsoDate()
    hours_per_day = DayHours()
    tentative = Boolean()

    @validates_schema
    def some_change(self, data, **kwargs):
        if not set(data) & {"starts_on", "ends_on", "hours_per_day", "tentative"}:
            raise ValidationError("Give at least one of starts_on, ends_on, hours_per_day, tentative.", "changes")
        check_range(data, "starts_on", "ends_on")


class ConfirmBookingSchema(CommandSchema):
    resource_id = Id(required=True)
    booking_id = Id(required=True)


class WeeksSchema(Schema):
    """A range of at most ``MAX_WEEKS`` ISO weeks (counting the weeks its first and last days fall in)."""

    from_date = IsoDate(required=True)
    to_date = IsoDate(required=True)
    min_position = Position()

    @validates_schema
    def at_most_53_weeks(self, data, **kwargs):
        if not (data.get("from_date") and data.get("to_date")):
            return
        first, last = date.fromisoformat(data["from_date"]), date.fromisoformat(data["to_date"])
        if last < first:
            raise ValidationError("Must not be before from_date.", "to_date")
        monday = first - timedelta(days=first.isoweekday() - 1)
        latest = monday + timedelta(days=7 * MAX_WEEKS - 1)
        if last > latest:
            raise ValidationError(
                f"The range may span at most {MAX_WEEKS} ISO weeks: from {data['from_date']} it may end on"
                f" {latest.isoformat()} at the latest.", "to_date")


class ProjectStaffingSchema(WeeksSchema):
    project_id = Id(required=True)


class TeamOverviewSchema(WeeksSchema):
    skill = Skill(load_default=None, allow_none=True)
