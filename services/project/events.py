"""The project service's event types, one marshmallow schema per type and schema_version."""
from marshmallow import Schema, fields, validate

from shared import reservations
from shared.events import EventRegistry

events = EventRegistry()
reservations.register_events(events)  # KeyReserved, KeyReleased: the code reservations (internal)

Hours = lambda **kw: fields.Float(allow_none=True, **kw)  # noqa: E731  (a JSON number, at most 2 decimals)
Money = lambda **kw: fields.String(allow_none=True, **kw)  # noqa: E731  (a decimal string)
Date = lambda **kw: fields.String(allow_none=True, **kw)  # noqa: E731  (YYYY-MM-DD)


@events.register("ProjectCreated", version=1)
class ProjectCreated(Schema):
    project_id = fields.String(required=True)
    name = fields.String(required=True)
    code = fields.String(required=True)
    manager_id = fields.String(required=True)
    customer = fields.String(required=True, allow_none=True)
    starts_on = Date(required=True)
    ends_on = Date(required=True)
    billable = fields.Boolean(required=True)
    budget_hours = Hours(required=True)
    budget_amount = Money(required=True)
    currency = fields.String(required=True)
    hourly_rate = Money(required=True)


@events.register("ProjectUpdated", version=1)
class ProjectUpdated(Schema):
    project_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    previous = fields.Dict(keys=fields.String(), required=True)


@events.register("TaskAdded", version=1)
class TaskAdded(Schema):
    project_id = fields.String(required=True)
    task_id = fields.String(required=True)
    name = fields.String(required=True)
    estimate_hours = Hours(required=True)
    billable = fields.Boolean(required=True, allow_none=True)


@events.register("TaskClosed", version=1)
class TaskClosed(Schema):
    project_id = fields.String(required=True)
    task_id = fields.String(required=True)


@events.register("MemberAssigned", version=1)
class MemberAssigned(Schema):
    project_id = fields.String(required=True)
    project_code = fields.String(required=True)
    project_name = fields.String(required=True)
    employee_id = fields.String(required=True)
    role = fields.String(required=True)
    hourly_rate = Money(required=True)


@events.register("MemberRemoved", version=1)
class MemberRemoved(Schema):
    project_id = fields.String(required=True)
    employee_id = fields.String(required=True)


@events.register("ProjectStatusChanged", version=1)
class ProjectStatusChanged(Schema):
    project_id = fields.String(required=True)
    from_status = fields.String(required=True)
    to_status = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    effective_on = Date(required=True)


@events.register("ApprovalsDelegated", version=1)
class ApprovalsDelegated(Schema):
    """The manager names a delegate who approves the project's hours for the weeks with a day in the range."""

    project_id = fields.String(required=True)
    manager_id = fields.String(required=True)  # the manager who delegates: the delegate acts on their behalf
    delegate_id = fields.String(required=True)
    from_date = fields.String(required=True)
    to_date = fields.String(required=True)


class _Threshold(Schema):
    project_id = fields.String(required=True)
    project_code = fields.String(required=True)
    manager_id = fields.String(required=True)
    threshold = fields.Integer(required=True)
    used_hours = Hours(required=True)
    budget_hours = Hours(required=True)


@events.register("BudgetThresholdReached", version=1)
class BudgetThresholdReached(_Threshold):
    pass


@events.register("BudgetThresholdCleared", version=1)
class BudgetThresholdCleared(_Threshold):
    """Used hours dropped below a reached threshold again: it is armed once more."""


@events.register("ProjectCodeReserved", version=1, internal=True)
class ProjectCodeReserved(Schema):
    """Internal (stream ``projectcode-<CODE>``, never published): the code belongs to ``project_id``.
    It carries the whole creation so that anyone finding it without its project can finish it.
    Written before the kit's reservations (now ``KeyReserved``); still read (``CodeReservation``)."""

    code = fields.String(required=True)
    project_id = fields.String(required=True)
    command_id = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True)
    creation = fields.Dict(required=True)


# -- planning: phases, tasks, milestones, status reports (issue 17) ------------------------------
@events.register("PhaseAdded", version=1)
class PhaseAdded(Schema):
    """A phase of the project: its dates, its hours and money budgets, and its place in the project's order."""

    project_id = fields.String(required=True)
    phase_id = fields.String(required=True)
    name = fields.String(required=True)
    starts_on = Date(required=True)
    ends_on = Date(required=True)
    budget_hours = Hours(required=True)
    budget_amount = Money(required=True)
    position = fields.Integer(required=True)  # 0-based, the phases in order


@events.register("PhaseUpdated", version=1)
class PhaseUpdated(Schema):
    """``changes``/``previous``: only what changed, among name, starts_on, ends_on, budget_hours, budget_amount and
    position (a reorder: every phase whose position moved gets one)."""

    project_id = fields.String(required=True)
    phase_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    previous = fields.Dict(keys=fields.String(), required=True)


@events.register("TaskAdded", version=2)
class TaskAddedV2(TaskAdded):
    """v2: a task may belong to a phase, have an assignee (a member) and a due date; its status is
    ``todo``, ``doing`` or ``done``."""

    phase_id = fields.String(required=True, allow_none=True)
    assignee_id = fields.String(required=True, allow_none=True)
    due_on = Date(required=True)
    status = fields.String(required=True)


@events.upcaster("TaskAdded", from_version=1)
def task_added_v1_to_v2(data):
    return {**data, "phase_id": None, "assignee_id": None, "due_on": None, "status": "todo"}


@events.register("TaskUpdated", version=1)
class TaskUpdated(Schema):
    """``changes``/``previous``: only what changed, among name, assignee_id, due_on, estimate_hours, status
    (``todo`` <-> ``doing``; reaching ``done`` is TaskClosed, leaving it TaskReopened) and phase_id."""

    project_id = fields.String(required=True)
    task_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    previous = fields.Dict(keys=fields.String(), required=True)


@events.register("TaskReopened", version=1)
class TaskReopened(Schema):
    """A closed (``done``) task is open again (``todo``): it takes hours again."""

    project_id = fields.String(required=True)
    task_id = fields.String(required=True)


@events.register("MilestoneAdded", version=1)
class MilestoneAdded(Schema):
    project_id = fields.String(required=True)
    milestone_id = fields.String(required=True)
    name = fields.String(required=True)
    due_on = Date(required=True)
    owner_id = fields.String(required=True)


@events.register("MilestoneUpdated", version=1)
class MilestoneUpdated(Schema):
    """``changes``/``previous``: only what changed, among name, due_on and owner_id."""

    project_id = fields.String(required=True)
    milestone_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    previous = fields.Dict(keys=fields.String(), required=True)


@events.register("MilestoneCompleted", version=1)
class MilestoneCompleted(Schema):
    project_id = fields.String(required=True)
    milestone_id = fields.String(required=True)
    completed_on = Date(required=True)


@events.register("MilestoneReopened", version=1)
class MilestoneReopened(Schema):
    """A milestone ``done`` (or ``missed``, re-dated to a day not past) is ``open`` again."""

    project_id = fields.String(required=True)
    milestone_id = fields.String(required=True)


class _MilestoneNotice(Schema):
    project_id = fields.String(required=True)
    milestone_id = fields.String(required=True)
    name = fields.String(required=True)
    due_on = Date(required=True)
    owner_id = fields.String(required=True)
    manager_id = fields.String(required=True)  # the project's manager when it was recorded


@events.register("MilestoneDueSoon", version=1)
class MilestoneDueSoon(_MilestoneNotice):
    """Recorded once 7 days before an open milestone's due date (days_left 7; fewer when the check caught up late or
    the milestone was added inside the week) and once on the day (days_left 0)."""

    days_left = fields.Integer(required=True)


@events.register("MilestoneMissed", version=1)
class MilestoneMissed(_MilestoneNotice):
    """The due date passed with the milestone still open: its status is ``missed``."""


class _Risk(Schema):
    description = fields.String(required=True)
    impact = fields.String(required=True)  # low | medium | high
    likelihood = fields.String(required=True)  # low | medium | high


@events.register("StatusReportRecorded", version=1)
class StatusReportRecorded(Schema):
    """The manager's weekly status report: overall RAG, a summary and the risks."""

    project_id = fields.String(required=True)
    report_id = fields.String(required=True)
    week = fields.String(required=True)  # YYYY-Www
    rag = fields.String(required=True)  # green | amber | red
    summary = fields.String(required=True)
    risks = fields.List(fields.Nested(_Risk), required=True)
    author_id = fields.String(required=True)

class _ForecastCrossing(Schema):
    """The forecast (estimate at completion) of the project, or of one of its phases, against one of its budgets."""

    project_id = fields.String(required=True)
    phase_id = fields.String(required=True, allow_none=True)  # null: the whole project
    budget = fields.String(required=True, validate=validate.OneOf(("hours", "money")))
    forecast = fields.String(required=True)  # a decimal string, 2 decimals: hours or money
    budget_value = fields.String(required=True)  # the budget it was measured against, likewise
    manager_id = fields.String(required=True)


@events.register("ForecastOverBudget", version=1)
class ForecastOverBudget(_ForecastCrossing):
    """The forecast went over the budget: recorded once per crossing (by the forecast watch)."""


@events.register("ForecastBackWithinBudget", version=1)
class ForecastBackWithinBudget(_ForecastCrossing):
    """The forecast dropped back within the budget: the next crossing is recorded again."""


# -- money: clients and billing rates (issue 16) -------------------------------------------------------------------
# Every rate is a decimal string with 2 decimals, or null (no rate from then on). ``effective_from``: YYYY-MM-DD.
# ProjectCreated v2 names its client; the ``hourly_rate`` of ProjectCreated, ProjectUpdated and MemberAssigned is a
# rate from the start (no date). Read by shared/rates.py, in this service and in others that record these events.
@events.register("ProjectCreated", version=2)
class ProjectCreatedV2(ProjectCreated):
    """``client_id``: the client the project belongs to (null: none). ``customer`` stays, as written. The project
    service always writes it; the schema does not require it, so that data of the v1 shape still validates (a
    consumer reads a missing one as the legacy client of ``customer``, as the upcaster does)."""

    client_id = fields.String(allow_none=True)


@events.upcaster("ProjectCreated", from_version=1)
def project_created_v1_to_v2(data):
    """A project created before clients: its free-text ``customer`` names a legacy client whose id is derived from
    the name (``shared.money.legacy_client_id``: the same for every project with that customer, whatever the case
    or spacing); no customer, no client."""
    from shared.money import legacy_client_id

    return {**data, "client_id": legacy_client_id(data.get("customer"))}


@events.register("ClientCreated", version=1)
class ClientCreated(Schema):
    client_id = fields.String(required=True)
    name = fields.String(required=True)
    org_number = fields.String(required=True, allow_none=True)
    currency = fields.String(required=True)
    default_rate = Money(required=True)  # the client's default billing rate from the start, or null
    contact_email = fields.String(required=True, allow_none=True)


@events.register("ClientUpdated", version=1)
class ClientUpdated(Schema):
    client_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    previous = fields.Dict(keys=fields.String(), required=True)


@events.register("ClientRateSet", version=1)
class ClientRateSet(Schema):
    """The client's default billing rate from ``effective_from`` on (null: none from then)."""

    client_id = fields.String(required=True)
    rate = Money(required=True)
    effective_from = fields.String(required=True)


@events.register("BillingRateSet", version=1)
class BillingRateSet(Schema):
    """A billing rate on the project from ``effective_from`` on: for the whole project (``scope`` "project",
    ``subject_id`` null), a task (``scope`` "task", ``subject_id`` the task id) or a member (``scope`` "member",
    ``subject_id`` the employee id). ``rate`` null: no rate at that level from then."""

    project_id = fields.String(required=True)
    scope = fields.String(required=True)
    subject_id = fields.String(required=True, allow_none=True)
    rate = Money(required=True)
    effective_from = fields.String(required=True)


# -- budget thresholds of both budgets (issue 16) -------------------------------------------------------------------
class _ThresholdV2(Schema):
    project_id = fields.String(required=True)
    project_code = fields.String(required=True)
    manager_id = fields.String(required=True)
    threshold = fields.Integer(required=True)
    # Written by the project service on every v2 event; not required, so data of the v1 shape still validates (a
    # consumer reads a missing ``budget`` as "hours", as the upcaster does).
    budget = fields.String()  # "hours" or "money": which budget the threshold is of
    used_hours = Hours(required=True)  # hours: the hours logged and the budget (null for money)
    budget_hours = Hours(required=True)
    used_amount = Money()  # money: the billable amount logged and the budget (null for hours)
    budget_amount = Money()


@events.register("BudgetThresholdReached", version=2)
class BudgetThresholdReachedV2(_ThresholdV2):
    pass


@events.register("BudgetThresholdCleared", version=2)
class BudgetThresholdClearedV2(_ThresholdV2):
    """Use dropped below a reached threshold again: it is armed once more."""


def _threshold_v1_to_v2(data):
    """Before the money budget had thresholds, every threshold was of the hours budget."""
    return {**data, "budget": "hours", "used_amount": None, "budget_amount": None}


events.upcaster("BudgetThresholdReached", from_version=1)(_threshold_v1_to_v2)
events.upcaster("BudgetThresholdCleared", from_version=1)(_threshold_v1_to_v2)
