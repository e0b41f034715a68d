"""RPC argument schemas. Unknown fields are refused (marshmallow's default, RAISE)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.validation import (
    Boolean,
    CommandSchema,
    Hours,
    Id,
    IsoDate,
    IsoDateTime,
    IsoWeek,
    Money,
    Position,
    StrictInteger,
    Text,
)

from .domain import STATUSES, TASK_STATUSES
from .planning import LEVELS, MILESTONE_STATUSES, RAG

# \Z, not $: "$" also matches before a trailing newline.
CODE = validate.Regexp(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z",
                       error="1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit.")
NAME = validate.Length(min=1, max=200)
CURRENCY = validate.Regexp(r"\A[A-Z]{3}\Z", error="A 3-letter ISO currency code.")
# Sane upper bounds (money is bounded by the shared Money field): every accepted value stays exact and
# fits the read models' INTEGER columns as centi-hours.
MAX_BUDGET_HOURS = 1_000_000
MAX_ESTIMATE_HOURS = 100_000


def _dates_in_order(data):
    starts_on, ends_on = data.get("starts_on"), data.get("ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError("Must not be before starts_on.", "ends_on")


class _Name(Text):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not value.strip():
            raise ValidationError("Must not be blank.")
        return value.strip()


class CreateProjectSchema(CommandSchema):
    name = _Name(required=True, validate=NAME)
    code = fields.String(required=True, validate=CODE)
    manager_id = Id(required=True)
    customer = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))
    client_id = Id(load_default=None, allow_none=True)  # must exist; None: the legacy client of ``customer``
    starts_on = IsoDate(load_default=None, allow_none=True)
    ends_on = IsoDate(load_default=None, allow_none=True)
    billable = Boolean(load_default=True)
    budget_hours = Hours(maximum=MAX_BUDGET_HOURS, load_default=None, allow_none=True)
    budget_amount = Money(load_default=None, allow_none=True)
    currency = fields.String(load_default=None, allow_none=True, validate=CURRENCY)  # None: the client's, or NOK
    hourly_rate = Money(load_default=None, allow_none=True)

    @validates_schema
    def check_dates(self, data, **kwargs):
        _dates_in_order(data)


class GetProjectSchema(Schema):
    project_id = Id(required=True)
    as_of = IsoDateTime(load_default=None, allow_none=True)
    min_position = Position()


class ListProjectsSchema(Schema):
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(STATUSES))
    customer = Text(load_default=None, allow_none=True)
    client_id = Id(load_default=None, allow_none=True)
    manager_id = Id(load_default=None, allow_none=True)
    member_id = Id(load_default=None, allow_none=True)
    min_position = Position()


class UpdateProjectSchema(CommandSchema):
    project_id = Id(required=True)
    expected_version = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=0))
    name = _Name(validate=NAME)
    manager_id = Id()  # hands the project over: an active resource, never null
    customer = Text(allow_none=True, validate=validate.Length(max=200))
    client_id = Id(allow_none=True)  # must exist
    starts_on = IsoDate(allow_none=True)
    ends_on = IsoDate(allow_none=True)
    billable = Boolean()
    budget_hours = Hours(maximum=MAX_BUDGET_HOURS, allow_none=True)
    budget_amount = Money(allow_none=True)
    hourly_rate = Money(allow_none=True)

    @validates_schema
    def check_dates(self, data, **kwargs):
        _dates_in_order(data)


class AddTaskSchema(CommandSchema):
    project_id = Id(required=True)
    name = _Name(required=True, validate=NAME)
    estimate_hours = Hours(maximum=MAX_ESTIMATE_HOURS, load_default=None, allow_none=True)
    billable = Boolean(load_default=None, allow_none=True)
    phase_id = Id(load_default=None, allow_none=True)
    assignee_id = Id(load_default=None, allow_none=True)  # a member of the project
    due_on = IsoDate(load_default=None, allow_none=True)


class CloseTaskSchema(CommandSchema):
    project_id = Id(required=True)
    task_id = Id(required=True)
    force = Boolean(load_default=False)  # close even with bookings planned on the task from today on


class AssignMemberSchema(CommandSchema):
    project_id = Id(required=True)
    employee_id = Id(required=True)
    role = fields.String(load_default="member", validate=validate.Regexp(r"\A[a-z][a-z_]{0,49}\Z",
                                                                          error="A lower-case role name."))
    hourly_rate = Money(load_default=None, allow_none=True)


class RemoveMemberSchema(CommandSchema):
    project_id = Id(required=True)
    employee_id = Id(required=True)


class ChangeStatusSchema(CommandSchema):
    project_id = Id(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = Text(multiline=True, load_default=None, allow_none=True, validate=validate.Length(max=1000))
    effective_on = IsoDate(load_default=None, allow_none=True)


class DelegateApprovalsSchema(CommandSchema):
    project_id = Id(required=True)
    delegate_id = Id(required=True)
    from_date = IsoDate(required=True)
    to_date = IsoDate(required=True)

    @validates_schema
    def check_dates(self, data, **kwargs):
        if data.get("from_date") and data.get("to_date") and data["to_date"] < data["from_date"]:
            raise ValidationError("Must not be before from_date.", "to_date")


class ProjectIdSchema(Schema):
    project_id = Id(required=True)
    min_position = Position()


class HistorySchema(Schema):
    project_id = Id(required=True)


# -- forecast and health (issue 17) ---------------------------------------------------------------
class ProjectBurnSchema(Schema):
    project_id = Id(required=True)
    interval = fields.String(load_default="week", validate=validate.OneOf(("week", "month")))
    min_position = Position()


class ProjectHealthSchema(Schema):
    project_id = Id(required=True)
    # how many working days a submitted week may wait for approval before it counts (None: the service's setting)
    waiting_days = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=1, max=60))
    min_position = Position()


# -- planning: phases, tasks, milestones, status reports ------------------------------------------
MAX_PHASES = 1000


class AddPhaseSchema(CommandSchema):
    project_id = Id(required=True)
    name = _Name(required=True, validate=NAME)
    starts_on = IsoDate(load_default=None, allow_none=True)
    ends_on = IsoDate(load_default=None, allow_none=True)
    budget_hours = Hours(maximum=MAX_BUDGET_HOURS, load_default=None, allow_none=True)
    budget_amount = Money(load_default=None, allow_none=True)
    position = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_PHASES))

    @validates_schema
    def check_dates(self, data, **kwargs):
        _dates_in_order(data)


class UpdatePhaseSchema(CommandSchema):
    project_id = Id(required=True)
    phase_id = Id(required=True)
    name = _Name(validate=NAME)
    starts_on = IsoDate(allow_none=True)
    ends_on = IsoDate(allow_none=True)
    budget_hours = Hours(maximum=MAX_BUDGET_HOURS, allow_none=True)
    budget_amount = Money(allow_none=True)
    position = StrictInteger(validate=validate.Range(min=0, max=MAX_PHASES))  # a reorder

    @validates_schema
    def check_dates(self, data, **kwargs):
        _dates_in_order(data)


class UpdateTaskSchema(CommandSchema):
    project_id = Id(required=True)
    task_id = Id(required=True)
    name = _Name(validate=NAME)
    assignee_id = Id(allow_none=True)  # a member of the project
    due_on = IsoDate(allow_none=True)
    estimate_hours = Hours(maximum=MAX_ESTIMATE_HOURS, allow_none=True)
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))
    phase_id = Id(allow_none=True)
    force = Boolean(load_default=False)  # status done even with bookings planned on the task from today on


class TaskIdSchema(CommandSchema):
    project_id = Id(required=True)
    task_id = Id(required=True)


class ListTasksSchema(Schema):
    project_id = Id(required=True)
    phase_id = Id(load_default=None, allow_none=True)
    assignee_id = Id(load_default=None, allow_none=True)
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TASK_STATUSES))
    min_position = Position()


class AddMilestoneSchema(CommandSchema):
    project_id = Id(required=True)
    name = _Name(required=True, validate=NAME)
    due_on = IsoDate(required=True)
    owner_id = Id(required=True)  # the project's manager or a member


class UpdateMilestoneSchema(CommandSchema):
    project_id = Id(required=True)
    milestone_id = Id(required=True)
    name = _Name(validate=NAME)
    due_on = IsoDate()
    owner_id = Id()


class CompleteMilestoneSchema(CommandSchema):
    project_id = Id(required=True)
    milestone_id = Id(required=True)
    completed_on = IsoDate(load_default=None, allow_none=True)  # null: today


class MilestoneIdSchema(CommandSchema):
    project_id = Id(required=True)
    milestone_id = Id(required=True)


class ListMilestonesSchema(Schema):
    project_id = Id(required=True)
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(MILESTONE_STATUSES))
    min_position = Position()


class CheckMilestonesSchema(Schema):
    today = IsoDate(load_default=None, allow_none=True)  # null: the service's today


class RiskSchema(Schema):
    description = Text(required=True, multiline=True, validate=validate.Length(min=1, max=2000))
    impact = fields.String(required=True, validate=validate.OneOf(LEVELS))
    likelihood = fields.String(required=True, validate=validate.OneOf(LEVELS))


class RecordStatusReportSchema(CommandSchema):
    project_id = Id(required=True)
    week = IsoWeek(required=True)
    rag = fields.String(required=True, validate=validate.OneOf(RAG))
    summary = Text(multiline=True, load_default="", validate=validate.Length(max=10_000))
    risks = fields.List(fields.Nested(RiskSchema), load_default=list, validate=validate.Length(max=100))


class _EndOfDayOrMoment(IsoDateTime):
    """An ISO datetime, or a date ``YYYY-MM-DD``: the end of that day (UTC)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) == 10:
            day = IsoDate()._deserialize(value, attr, data, **kwargs)
            value = f"{day}T23:59:59.999999+00:00"
        return super()._deserialize(value, attr, data, **kwargs)


class StatusReportsSchema(Schema):
    project_id = Id(required=True)
    as_of = _EndOfDayOrMoment(load_default=None, allow_none=True)  # the reports recorded by then
    min_position = Position()


# -- money: clients, billing rates, profitability (issue 16) ----------------------------------------------------------
RATE_SCOPES = ("project", "task", "member")
GROUP_BY = ("project", "client", "employee", "month")


class CreateClientSchema(CommandSchema):
    name = _Name(required=True, validate=NAME)
    org_number = Text(load_default=None, allow_none=True, validate=validate.Length(min=1, max=50))
    currency = fields.String(load_default="NOK", validate=CURRENCY)
    default_rate = Money(load_default=None, allow_none=True)
    contact_email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))


class UpdateClientSchema(CommandSchema):
    client_id = Id(required=True)
    expected_version = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=0))
    name = _Name(validate=NAME)
    org_number = Text(allow_none=True, validate=validate.Length(min=1, max=50))
    currency = fields.String(validate=CURRENCY)
    contact_email = fields.Email(allow_none=True, validate=validate.Length(max=254))


class ClientIdSchema(Schema):
    client_id = Id(required=True)
    min_position = Position()


class ListClientsSchema(Schema):
    min_position = Position()


class SetClientRateSchema(CommandSchema):
    client_id = Id(required=True)
    rate = Money(required=True, allow_none=True)
    effective_from = IsoDate(required=True)


class SetRateSchema(CommandSchema):
    project_id = Id(required=True)
    scope = fields.String(required=True, validate=validate.OneOf(RATE_SCOPES))
    subject_id = Id(load_default=None, allow_none=True)  # the task (scope task) or the employee (scope member)
    rate = Money(required=True, allow_none=True)  # null: no rate at this level from effective_from
    effective_from = IsoDate(required=True)

    @validates_schema
    def check_subject(self, data, **kwargs):
        if "scope" in data and (data["scope"] == "project") != (data.get("subject_id") is None):
            raise ValidationError("Must be null for the project's rate and given for a task or a member.",
                                  "subject_id")


class ProfitabilitySchema(Schema):
    from_date = IsoDate(required=True)
    to_date = IsoDate(required=True)
    group_by = fields.String(load_default="project", validate=validate.OneOf(GROUP_BY))
    approved_only = Boolean(load_default=False)
    min_position = Position()

    @validates_schema
    def check_dates(self, data, **kwargs):
        if data.get("from_date") and data.get("to_date") and data["to_date"] < data["from_date"]:
            raise ValidationError("Must not be before from_date.", "to_date")
