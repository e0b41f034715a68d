"""The timesheet service's events (``timesheet.events``), one schema per type and version.

Hours are JSON numbers with at most 2 decimals; dates ``YYYY-MM-DD``; weeks ``2026-W48``.
"""
from marshmallow import Schema, fields

from shared.events import EventRegistry
from shared.validation import Hours

events = EventRegistry()

Str = fields.String
NullStr = lambda: fields.String(allow_none=True, load_default=None)  # noqa: E731


class EntryState(Schema):
    entry_id = Str(required=True)
    employee_id = Str(required=True)
    week = Str(required=True)
    project_id = Str(required=True)
    task_id = NullStr()
    date = Str(required=True)
    hours = Hours(required=True, allow_zero=True)
    billable = fields.Boolean(required=True)


@events.register("TimeLogged", version=1)
class TimeLoggedV1(EntryState):
    description = Str(required=True)
    moved_from_week = NullStr()


@events.register("TimeEntryAmended", version=1)
class TimeEntryAmendedV1(EntryState):
    description = Str(required=True)
    previous = fields.Dict(required=True)
    reason = NullStr()


@events.register("TimeEntryDeleted", version=1)
class TimeEntryDeletedV1(EntryState):
    reason = NullStr()
    moved_to_week = NullStr()


class SubmittedProject(Schema):
    project_id = Str(required=True)
    hours = Hours(required=True, allow_zero=True)
    billable_hours = Hours(required=True, allow_zero=True)
    manager_id = NullStr()


@events.register("TimesheetSubmitted", version=1)
class TimesheetSubmittedV1(Schema):
    employee_id = Str(required=True)
    week = Str(required=True)
    total_hours = Hours(required=True, allow_zero=True)
    projects = fields.List(fields.Nested(SubmittedProject), required=True)
    actor_id = NullStr()


class ApprovedLine(Schema):
    project_id = Str(required=True)
    hours = Hours(required=True, allow_zero=True)
    billable_hours = Hours(required=True, allow_zero=True)


@events.register("TimesheetApproved", version=1)
class TimesheetApprovedV1(Schema):
    employee_id = Str(required=True)
    week = Str(required=True)
    approver_id = Str(required=True)
    project_ids = fields.List(Str(), required=True)
    status = Str(required=True)
    approved_at = NullStr()
    lines = fields.List(fields.Nested(ApprovedLine), required=True)
    # added fields (absent from events recorded before them), as in TimesheetRejected
    on_behalf_of = NullStr()
    self_approval_override = fields.Boolean()


class RejectedLine(Schema):
    project_id = Str(required=True)
    hours = Hours(required=True, allow_zero=True)


@events.register("TimesheetRejected", version=1)
class TimesheetRejectedV1(Schema):
    employee_id = Str(required=True)
    week = Str(required=True)
    approver_id = Str(required=True)
    reason = Str(required=True)
    project_ids = fields.List(Str(), required=True)
    lines = fields.List(fields.Nested(RejectedLine), required=True)
    # added fields (absent from events recorded before them): the week's status afterwards, and the lines
    # whose approval this rejection took away (approved lines of other projects included)
    status = Str()
    revoked_project_ids = fields.List(Str())
    # the manager a delegate decided for (null: the approver's own right), and an admin's decision on their own
    # hours (true; absent otherwise)
    on_behalf_of = NullStr()
    self_approval_override = fields.Boolean()


@events.register("TimesheetReopened", version=1)
class TimesheetReopenedV1(Schema):
    employee_id = Str(required=True)
    week = Str(required=True)
    actor_id = Str(required=True)
    reason = Str(required=True)
    from_status = Str(required=True)
    total_hours = Hours(required=True, allow_zero=True)
    projects = fields.List(fields.Nested(RejectedLine), required=True)


@events.register("PeriodLocked", version=1)
class PeriodLockedV1(Schema):
    through_date = Str(required=True)
    actor_id = Str(required=True)
    previous_through_date = NullStr()


@events.register("PeriodUnlocked", version=1)
class PeriodUnlockedV1(Schema):
    through_date = Str(required=True)  # the lock goes back to this date
    actor_id = Str(required=True)
    reason = Str(required=True)
    previous_through_date = Str(required=True)


# -- the month-end close (issue 16) -------------------------------------------------------------------
# A lock through a date now locks the entries dated on or before it. v1 locked every week with a day on or before
# its date, i.e. every day through that week's Sunday: upcast to that Sunday, so an old lock still locks exactly
# what it locked when it was recorded (``requested_through_date`` keeps the date that was asked for).
def _through_sunday(day):
    from datetime import date, timedelta

    if not day:
        return day
    d = date.fromisoformat(day)
    return (d + timedelta(days=6 - d.weekday())).isoformat()


@events.register("PeriodLocked", version=2)
class PeriodLockedV2(PeriodLockedV1):
    requested_through_date = NullStr()


@events.upcaster("PeriodLocked", from_version=1)
def period_locked_v1_to_v2(data):
    return {**data, "through_date": _through_sunday(data["through_date"]),
            "previous_through_date": _through_sunday(data.get("previous_through_date")),
            "requested_through_date": data["through_date"]}


@events.register("PeriodUnlocked", version=2)
class PeriodUnlockedV2(PeriodUnlockedV1):
    requested_through_date = NullStr()


@events.upcaster("PeriodUnlocked", from_version=1)
def period_unlocked_v1_to_v2(data):
    return {**data, "through_date": _through_sunday(data["through_date"]),
            "previous_through_date": _through_sunday(data["previous_through_date"]),
            "requested_through_date": data["through_date"]}


class CorrectedValues(Schema):
    hours = Hours(required=True, allow_zero=True)
    task_id = NullStr()
    billable = fields.Boolean(required=True)
    invoice_ref = NullStr()


@events.register("TimeEntryCorrected", version=1)
class TimeEntryCorrectedV1(EntryState):
    """The entry as it is after the correction (its date never changes), the values before (null: a late entry,
    ``correction`` "add") and after, and ``booked_on``: the day in the open period the correction counts on."""
    description = Str(required=True)
    correction = Str(required=True)  # "change" (correct_entry) | "add" (add_late_entry)
    before = fields.Nested(CorrectedValues, allow_none=True, required=True)
    after = fields.Nested(CorrectedValues, required=True)
    reason = Str(required=True)
    booked_on = Str(required=True)


class InvoicedLine(Schema):
    entry_id = Str(required=True)
    project_id = Str(required=True)
    date = Str(required=True)
    hours = Hours(required=True, allow_zero=True)
    billable = fields.Boolean(required=True)


@events.register("TimeEntriesInvoiced", version=1)
class TimeEntriesInvoicedV1(Schema):
    employee_id = Str(required=True)
    week = Str(required=True)
    invoice_ref = Str(required=True)
    entry_ids = fields.List(Str(), required=True)
    lines = fields.List(fields.Nested(InvoicedLine), required=True)
