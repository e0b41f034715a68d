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
