"""RPC argument schemas. Unknown fields are refused (marshmallow's default, RAISE)."""
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow import ValidationError as MarshmallowError

from shared.validation import (
    Boolean,
    CommandSchema,
    Hours,
    Id,
    IsoDate,
    IsoDateTime,
    IsoWeek,
    Position,
    Seen,
    StrictInteger,
    Text,
)

EXPORT_STATUSES = ("approved", "submitted", "rejected", "open", "all")


def _text(max_len=2000, **kwargs):
    return Text(multiline=True, validate=validate.Length(max=max_len), **kwargs)


def _reason(required=False):
    if required:  # a required reason says something: not empty, not only blanks
        return Text(multiline=True, required=True, validate=[
            validate.Length(min=1, max=2000), validate.Regexp(r"\s*\S", error="Must not be blank.")])
    return Text(multiline=True, load_default=None, allow_none=True, validate=validate.Length(max=2000))


def _min_position():
    return Position()


class _NewEntrySchema(CommandSchema):
    """An entry's fields, as logged (or, after the lock, added late)."""
    employee_id = Id(required=True)
    project_id = Id(required=True)
    date = IsoDate(required=True)
    hours = Hours(required=True, maximum=24)
    task_id = Id(load_default=None, allow_none=True)
    description = _text(load_default="", allow_none=False)
    billable = Boolean(load_default=None, allow_none=True)


class LogTimeSchema(_NewEntrySchema):
    seen = Seen()


class AmendEntrySchema(CommandSchema):
    entry_id = Id(required=True)
    hours = Hours(load_default=None, allow_none=True, maximum=24)
    date = IsoDate(load_default=None, allow_none=True)
    task_id = Id(load_default=None, allow_none=True)
    description = _text(load_default=None, allow_none=True)
    billable = Boolean(load_default=None, allow_none=True)
    reason = _reason()
    seen = Seen()


class DeleteEntrySchema(CommandSchema):
    entry_id = Id(required=True)
    reason = _reason()


class WeekSchema(Schema):
    employee_id = Id(required=True)
    week = IsoWeek(required=True)


class GetTimesheetSchema(WeekSchema):
    as_of = IsoDateTime(load_default=None, allow_none=True)
    min_position = _min_position()


class SubmitSchema(CommandSchema, WeekSchema):
    pass


class ApproveSchema(CommandSchema, WeekSchema):  # the caller approves: no approver_id
    project_id = Id(load_default=None, allow_none=True)


class RejectSchema(ApproveSchema):
    reason = _reason(required=True)


class ReopenSchema(CommandSchema, WeekSchema):  # the caller reopens: no actor_id
    reason = _reason(required=True)


class LockPeriodSchema(CommandSchema):
    through_date = IsoDate(required=True)


class UnlockPeriodSchema(CommandSchema):
    through_date = IsoDate(required=True)
    reason = _reason(required=True)


class PeriodLockSchema(Schema):
    pass


class PendingApprovalsSchema(Schema):
    approver_id = Id(load_default=None, allow_none=True)  # default: the caller; only an admin names another
    min_position = _min_position()


class _DateRange(Schema):
    @validates_schema
    def to_date_not_before_from_date(self, data, **kwargs):
        if data.get("from_date") and data.get("to_date") and data["from_date"] > data["to_date"]:
            raise MarshmallowError("Must be on or after from_date.", "to_date")


class ProjectHoursSchema(_DateRange):
    project_id = Id(required=True)
    from_date = IsoDate(load_default=None, allow_none=True)
    to_date = IsoDate(load_default=None, allow_none=True)
    min_position = _min_position()


class ExportHoursSchema(_DateRange):
    # A full export names its range; a delta export (``since``) may narrow its lines to one.
    from_date = IsoDate(load_default=None, allow_none=True)
    to_date = IsoDate(load_default=None, allow_none=True)
    status = fields.String(load_default="approved", validate=validate.OneOf(EXPORT_STATUSES))
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
    # Pages (JSON only): at most ``limit`` rows, after the row a previous page's ``next`` names.
    limit = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=1, max=10_000))
    after = Text(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    # Delta (JSON only): the changes after a cursor a previous delta gave as ``next`` ("0": from the start).
    since = Text(load_default=None, allow_none=True, validate=validate.Length(max=40))
    min_position = _min_position()

    @validates_schema
    def pages_are_json(self, data, **kwargs):
        if data.get("format") == "csv" and (data.get("limit") is not None or data.get("after") is not None
                                             or data.get("since") is not None):
            raise MarshmallowError("Pages (limit, after) and deltas (since) are JSON only.", "format")

    @validates_schema
    def a_full_export_names_its_range(self, data, **kwargs):
        if data.get("since") is None:
            missing = {f: ["Missing data for required field."] for f in ("from_date", "to_date") if not data.get(f)}
            if missing:
                raise MarshmallowError(missing)
        elif data.get("after") is not None:
            raise MarshmallowError("A delta pages with since, not after.", "after")


class HistorySchema(WeekSchema):
    pass


# -- the month-end close ------------------------------------------------------------------------------
class CorrectEntrySchema(CommandSchema):
    """A locked or invoiced entry's hours (0 takes them all back), task or billable; a reason is required."""
    entry_id = Id(required=True)
    hours = Hours(load_default=None, allow_none=True, maximum=24, allow_zero=True)
    task_id = Id(load_default=None, allow_none=True)
    billable = Boolean(load_default=None, allow_none=True)
    reason = _reason(required=True)


class AddLateEntrySchema(_NewEntrySchema):
    """Hours of a locked day that were never logged."""
    reason = _reason(required=True)


class MarkInvoicedSchema(CommandSchema):
    entry_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=1000))
    invoice_ref = Text(required=True, validate=[validate.Length(min=1, max=200),
                                                validate.Regexp(r"\s*\S", error="Must not be blank.")])
