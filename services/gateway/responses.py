"""What each route answers on success: marshmallow schemas of the RPCs' return values, for the OpenAPI document.

They describe, they never load: the gateway passes the service's answer on as it is. Each follows what its RPC
returns (the service's ``return``, its aggregate's ``to_dict`` or its view's row); unknown keys are not allowed,
so a service that changes its answer fails schemathesis' response check and ``tests/gateway/test_roles.py``.
Hours are JSON numbers, money decimal strings, dates ``YYYY-MM-DD`` and times ISO 8601 strings.
"""
from __future__ import annotations

from marshmallow import Schema, fields


def _s(**options):
    return fields.String(required=True, **options)


def _null(field_cls=fields.String, **options):
    return field_cls(required=True, allow_none=True, **options)


def _n():  # hours, amounts of hours: an integer or a decimal number
    return fields.Float(required=True)


def _i():
    return fields.Integer(required=True)


def _b():
    return fields.Boolean(required=True)


def _list(inner, **options):
    return fields.List(inner, required=True, **options)


def _money():  # a project's money figure: only an admin and the project's manager see it (project/access.py)
    return fields.String(allow_none=True, metadata={"description": "Only to an admin and the project's manager"})


def _nested(schema, **options):
    return fields.Nested(schema, required=True, **options)


class Written(Schema):
    position = fields.Integer(required=True, metadata={"description": "The store position of the command's last "
                                                                      "event: pass it as min_position to read it"})


# -- projects -------------------------------------------------------------------------------------------------
class Task(Schema):
    id, name, status = _s(), _s(), _s()
    estimate_hours = _null(fields.Float)
    billable = _b()
    phase_id, assignee_id, due_on = _null(), _null(), _null()


class TaskWritten(Task, Written):
    project_id = _s()
    actual_hours = fields.Float(metadata={"description": "The hours logged on the task (task changes only)"})


class Member(Schema):
    employee_id, role = _s(), _s()
    hourly_rate = fields.String(allow_none=True, metadata={
        "description": "Only to an admin, the project's manager and the member themself"})


class MemberWritten(Member, Written):
    project_id = _s()


class MemberRemoved(Written):
    project_id, employee_id = _s(), _s()
    removed = _b()


class Budget(Schema):
    hours = _null(fields.Float)
    amount = _money()
    currency = _s()
    thresholds_reached = _list(fields.Integer())


class ProjectSummary(Schema):
    id, code, name, manager_id, status, currency = _s(), _s(), _s(), _s(), _s(), _s()
    customer, starts_on, ends_on = _null(), _null(), _null()
    client_id = _null(metadata={"description": "The client the project belongs to (a legacy client's id for a "
                                               "free-text customer; null: none)"})
    budget_amount, hourly_rate = _money(), _money()
    billable = _b()
    budget_hours = _null(fields.Float)
    version = _i()


class Phase(Schema):
    id, name = _s(), _s()
    starts_on, ends_on = _null(), _null()
    budget_hours = _null(fields.Float)
    budget_amount = _money()
    position = _i()


class Project(ProjectSummary):
    budget = _nested(Budget)
    tasks = _list(fields.Nested(Task))
    phases = _list(fields.Nested(Phase))
    members = _list(fields.Nested(Member))


class ProjectWritten(Project, Written):
    pass


class Delegation(Schema):
    project_id, manager_id, delegate_id, from_date, to_date = _s(), _s(), _s(), _s(), _s()


class Delegations(Written):
    project_id = _s()
    delegations = _list(fields.Nested(Delegation))


class BudgetUse(Schema):
    budget, used, remaining = fields.Raw(required=True, allow_none=True), fields.Raw(required=True), \
        fields.Raw(required=True, allow_none=True)
    percent = _null(fields.Float)


class BudgetsUse(Schema):
    hours = _nested(BudgetUse, metadata={"description": "Hours (JSON numbers)"})
    money = _nested(BudgetUse, metadata={"description": "Billable amount (decimal strings)"})


class MissingRates(Schema):
    billing_hours, cost_hours = _n(), _n()


class MoneyFigures(Schema):
    hours, billable_hours = _n(), _n()
    revenue, cost, margin = _s(), _s(), _s()
    margin_percent = _null(fields.Float)


class Progress(Schema):
    project_id, currency = _s(), _s()
    budget_hours, remaining_hours, percent_used = _null(fields.Float), _null(fields.Float), _null(fields.Float)
    logged_hours, approved_hours, billable_hours = _n(), _n(), _n()
    budget_amount, logged_amount = _null(), _null()
    thresholds_reached = _list(fields.Integer())
    money_thresholds_reached = _list(fields.Integer())
    budgets = _nested(BudgetsUse)
    logged = _nested(MoneyFigures)
    approved = _nested(MoneyFigures)
    missing_rates = _nested(MissingRates)


class FieldChange(Schema):
    field = _s()
    old, new = fields.Raw(required=True, allow_none=True), fields.Raw(required=True, allow_none=True)


class ProjectChange(Schema):
    id, type, recorded_at = _s(), _s(), _s()
    version, schema_version, position = _i(), _i(), _i()
    actor, command_id = _null(), _null()
    data = fields.Dict(required=True)
    changes = fields.List(fields.Nested(FieldChange), metadata={
        "description": "The events with changes and previous values (ProjectUpdated, PhaseUpdated, ...) only"})


class HoursByEmployee(Schema):
    employee_id = _s()
    hours, approved_hours, billable_hours = _n(), _n(), _n()


class HoursByTask(Schema):
    task_id, task_name = _null(), _null()
    hours, approved_hours = _n(), _n()


class ProjectHours(Schema):
    project_id = _s()
    from_date, to_date = _null(), _null()
    total_hours, approved_hours, billable_hours = _n(), _n(), _n()
    by_employee = _list(fields.Nested(HoursByEmployee))
    by_task = _list(fields.Nested(HoursByTask))


class PhaseWritten(Written):
    project_id = _s()
    phase = _nested(Phase)
    phases = _list(fields.Nested(Phase))


class TaskDetail(Task):
    actual_hours = _n()


class Milestone(Schema):
    id, name, due_on, owner_id, status = _s(), _s(), _s(), _s(), _s()
    completed_on = _null()


class MilestoneWritten(Milestone, Written):
    project_id = _s()


class MilestoneNotice(Schema):
    project_id, milestone_id, type = _s(), _s(), _s()
    days_left = _null(fields.Integer)


class MilestoneCheck(Schema):
    today = _s()
    checked = _i()
    recorded = _list(fields.Nested(MilestoneNotice))


class Risk(Schema):
    description, impact, likelihood = _s(), _s(), _s()


class StatusReport(Schema):
    report_id, project_id, week, rag, summary, author_id = _s(), _s(), _s(), _s(), _s(), _s()
    risks = _list(fields.Nested(Risk))


class StatusReportWritten(StatusReport, Written):
    pass


# -- hours ----------------------------------------------------------------------------------------------------
class Entry(Schema):
    id, entry_id, employee_id, week, project_id, date, description, status = (_s() for _ in range(8))
    task_id = _null()
    hours = _n()
    billable = _b()
    invoice_ref = fields.String(allow_none=True)  # the close: the invoice an entry is billed on (mark_invoiced)


class EntryWritten(Entry, Written):
    pass


class EntryDeleted(Written):
    id, employee_id, week = _s(), _s(), _s()
    deleted = _b()
    hours = _n()


class ProjectLine(Schema):
    project_id, status = _s(), _s()
    project_code, approved_by, approved_at = _null(), _null(), _null()
    hours, billable_hours = _n(), _n()


class Week(Schema):
    employee_id, week, status = _s(), _s(), _s()
    editable = _b()
    entries = _list(fields.Nested(Entry))
    total_hours = _n()
    daily_totals = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    projects = _list(fields.Nested(ProjectLine))
    version = _i()


class WeekWritten(Week, Written):
    pass


class WeekChange(Schema):
    type, at, status_after = _s(), _s(), _s()
    version, position = _i(), _i()
    actor, reason, status_before = _null(), _null(), _null()
    changes = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)
    entry_id = fields.String()
    moved_from_week, moved_to_week = fields.String(), fields.String()
    project_ids = fields.List(fields.String())
    on_behalf_of = fields.String(allow_none=True)
    self_approval_override = fields.Boolean()
    # the close: a correction (TimeEntryCorrected) and an invoicing mark (TimeEntriesInvoiced)
    correction, booked_on, invoice_ref = fields.String(), fields.String(), fields.String()
    entry_ids = fields.List(fields.String())


class WeekHistory(Schema):
    employee_id, week = _s(), _s()
    events = _list(fields.Nested(WeekChange))
    version = _i()


class PendingLine(Schema):
    project_id = _s()
    project_code = _null()
    hours = _n()


class PendingWeek(Schema):
    employee_id, week = _s(), _s()
    hours = _n()
    projects = _list(fields.Nested(PendingLine))


class Lock(Written):
    locked_through = _s()


class LockChange(Schema):
    type, through_date, at = _s(), _s(), _s()
    previous_through_date, reason, actor = _null(), _null(), _null()
    position = _i()
    requested_through_date = fields.String()  # only on locks recorded when they were by whole weeks


class PeriodLock(Schema):
    locked_through = _null()
    history = _list(fields.Nested(LockChange))


# -- resources ------------------------------------------------------------------------------------------------
class CapacityPeriod(Schema):
    effective_from = _null()
    weekly_capacity_hours = _n()
    working_days = _list(fields.Integer())


class Resource(Schema):
    id, name, email = _s(), _s(), _s()
    title = _null()
    skills = _list(fields.String())
    active = _b()
    weekly_capacity_hours = _null(fields.Float)
    working_days = _list(fields.Integer())
    capacity_periods = _list(fields.Nested(CapacityPeriod))
    version = _i()


class ResourceWritten(Resource, Written):
    pass


class Deactivated(ResourceWritten):
    cancelled_booking_ids = _list(fields.String())


class Booking(Schema):
    id, resource_id, project_id, starts_on, ends_on, status = (_s() for _ in range(6))
    hours_per_day = _n()
    tentative = _b()


class Absence(Schema):
    id, resource_id, starts_on, ends_on, kind, status = (_s() for _ in range(6))
    hours_per_day = _null(fields.Float)


class ResourceDetail(Resource):
    bookings = _list(fields.Nested(Booking))
    absences = _list(fields.Nested(Absence))


class Overbooked(Schema):
    """The ResourceOverbooked event's data (docs/events.md), or null when the change overbooks no day."""

    class Meta:
        unknown = "include"

    resource_id = _s()
    days = _list(fields.Dict())
    excess_hours = _n()


class BookingWritten(Booking, Written):
    overbooked = _nested(Overbooked, allow_none=True)


class BookingCancelled(Booking, Written):
    pass


class AbsenceWritten(Absence, Written):
    overbooked = _nested(Overbooked, allow_none=True)


class AbsenceCancelled(Absence, Written):
    pass


class Envelope(Schema):
    """A stored event as the store keeps it (docs/events.md)."""

    id, stream, type, recorded_at = _s(), _s(), _s(), _s()
    version, position, schema_version = _i(), _i(), _i()
    data, metadata = fields.Dict(required=True), fields.Dict(required=True)


class DayLoad(Schema):
    capacity, absence, booked, tentative, free, excess = (_n() for _ in range(6))


class Day(DayLoad):
    date = _s()


class Availability(Schema):
    resource_id, from_date, to_date = _s(), _s(), _s()
    days = _list(fields.Nested(Day))
    totals = _nested(DayLoad)


class Available(Schema):
    resource_id, name, email = _s(), _s(), _s()
    title = _null()
    skills = _list(fields.String())
    free_hours, min_free_hours_per_day = _n(), _n()
    working_days = _i()
    requested_hours, covered_hours, coverage_percent = _n(), _n(), _n()  # staffing (issue 17): partial matches
    full_match = _b()


class Utilised(Schema):
    resource_id, name = _s(), _s()
    active = _b()
    capacity_hours, absence_hours, available_hours, booked_hours = _n(), _n(), _n(), _n()
    tentative_hours, logged_hours, billable_hours = _n(), _n(), _n()
    utilisation, billable_utilisation, booking_accuracy = (_null(fields.Float) for _ in range(3))


class Utilisation(Schema):
    from_date, to_date = _s(), _s()
    resources = _list(fields.Nested(Utilised))


# -- notifications and webhooks -------------------------------------------------------------------------------
class Notification(Schema):
    id, kind, title, body, created_at = _s(), _s(), _s(), _s(), _s()
    read = _b()
    source_event_id = _null()


class Read(Written):
    id = _s()
    read = _b()


class KindChannels(Schema):  # a per-kind override names one channel or both
    email, inapp = fields.Boolean(), fields.Boolean()


class Channels(Schema):
    email, inapp = _b(), _b()


class Preferences(Schema):
    user_id = _s()
    email, inapp = _b(), _b()
    muted_kinds = _list(fields.String())
    kinds = fields.Dict(keys=fields.String(), values=fields.Nested(KindChannels), required=True,
                        metadata={"description": "Per-kind overrides of the channels"})


class PreferencesShown(Preferences):
    by_kind = fields.Dict(keys=fields.String(), values=fields.Nested(Channels), required=True,
                          metadata={"description": "Every kind with the channels it goes out on"})


class PreferencesWritten(Preferences, Written):
    pass


class Webhook(Schema):
    id, url, description, registered_at = _s(), _s(), _s(), _s()
    event_types = _list(fields.String())


class WebhookRegistered(Written):
    id, url, description = _s(), _s(), _s()
    secret = _s(metadata={"description": "Shown once: the key the deliveries are signed with"})
    event_types = _list(fields.String())


class WebhookRemoved(Written):
    id = _s()
    removed = _b()


class Attempt(Schema):
    attempt = _i()
    attempted_at, outcome = _s(), _s()
    status_code = _null(fields.Integer)
    error = _null()


class Delivery(Schema):
    id, webhook_id, event_id, event_type, status, scheduled_at = (_s() for _ in range(6))
    next_attempt_at = _null()
    attempts = _list(fields.Nested(Attempt))


class Redelivered(Written):
    id, status = _s(), _s()


# -- integrations ---------------------------------------------------------------------------------------------
class FeedEvent(Envelope):
    signature = _s()
    service = _s(metadata={"description": "The service that recorded it"})


class EventPage(Schema):
    events = _list(fields.Nested(FeedEvent))
    next = _s(metadata={"description": "The cursor after this page: pass it as after"})
    more = _b()


class ExportPage(Schema):
    columns = _list(fields.String())
    rows = _list(fields.Dict())
    count = _i()


class ExportChanges(ExportPage):
    """A delta page: rows with ``action`` (add, reverse, replace), the cursor asked for and the next one."""
    since, next = _s(), _s()
    more = _b()


# -- money: clients, rates, profitability (issue 16) -----------------------------------------------------------
class RateAt(Schema):
    effective_from = _null(metadata={"description": "null: from the start"})
    rate = _null(metadata={"description": "null: no rate from then"})


class ClientSummary(Schema):
    client_id, name = _s(), _null()
    org_number, currency, contact_email = _null(), _null(), _null()
    legacy = _b()


class Client(Schema):
    id, name, currency = _s(), _s(), _s()
    org_number, contact_email, default_rate = _null(), _null(), _null()
    rates = _list(fields.Nested(RateAt))
    version = _i()


class ClientWritten(Client, Written):
    pass


class MoneyTotals(Schema):
    currency = _null()
    hours, billable_hours = _n(), _n()
    revenue, cost, margin = _s(), _s(), _s()
    margin_percent = _null(fields.Float)
    missing_rates = _nested(MissingRates)


class ClientDetail(Client):
    name = _null()
    currency = _null()
    legacy = _b()
    projects = _list(fields.Nested(ProjectSummary))
    figures = _list(fields.Nested(MoneyTotals))


class RateWritten(Written):
    project_id, scope = _s(), _s()
    subject_id, rate = _null(), _null()
    effective_from = _s()
    rates = _list(fields.Nested(RateAt))


class ProfitabilityRow(MoneyTotals):
    key, label = _null(), _null()


class Profitability(Schema):
    from_date, to_date, group_by = _s(), _s(), _s()
    approved_only = _b()
    rows = _list(fields.Nested(ProfitabilityRow))
    totals = _list(fields.Nested(MoneyTotals))


class CostRate(Schema):
    effective_from, currency = _s(), _s()
    rate = _null()
    actor, recorded_at = _null(), _s()
    position = _i()


class CostRates(Schema):
    resource_id = _s()
    rates = _list(fields.Nested(CostRate), metadata={"description": "In force, by date"})
    history = _list(fields.Nested(CostRate), metadata={"description": "Every change, in order"})


class CostRatesWritten(CostRates, Written):
    pass


# -- staffing (issue 17) --------------------------------------------------------------------------------------
class BookingChanged(Booking, Written):
    previous = fields.Dict(required=True, metadata={"description": "The old values of the fields that changed"})
    overbooked = _nested(Overbooked, allow_none=True)


class BookingConfirmed(Booking, Written):
    overbooked = _nested(Overbooked, allow_none=True)


class _WeekSpan(Schema):
    week, from_date, to_date = _s(), _s(), _s()


class ProjectWeekFigures(Schema):
    capacity_hours, absence_hours, available_hours = _n(), _n(), _n()
    project_booked_hours, project_tentative_hours = _n(), _n()
    other_booked_hours, other_tentative_hours = _n(), _n()
    free_hours, excess_hours, logged_hours, logged_unbooked_hours = _n(), _n(), _n(), _n()


class ProjectWeek(ProjectWeekFigures, _WeekSpan):
    pass


class StaffedPerson(Schema):
    resource_id, name = _s(), _s()
    active, booked = _b(), _b()
    bookings = _list(fields.Nested(Booking))
    weeks = _list(fields.Nested(ProjectWeek))
    totals = _nested(ProjectWeekFigures)


class UnbookedWeek(Schema):
    week = _s()
    hours = _n()


class LoggedWithoutBooking(Schema):
    resource_id = _s()
    name = _null()
    hours = _n()
    weeks = _list(fields.Nested(UnbookedWeek))


class StaffingTotals(Schema):
    project_booked_hours, project_tentative_hours, logged_hours, logged_unbooked_hours = _n(), _n(), _n(), _n()


class ProjectStaffing(Schema):
    project_id, status, from_date, to_date = _s(), _s(), _s(), _s()
    manager_id = _null()
    weeks = _list(fields.String())
    people = _list(fields.Nested(StaffedPerson))
    logged_without_booking = _list(fields.Nested(LoggedWithoutBooking))
    totals = _nested(StaffingTotals)


class TeamWeekFigures(Schema):
    capacity_hours, absence_hours, available_hours, booked_hours = _n(), _n(), _n(), _n()
    tentative_hours, free_hours, excess_hours, logged_hours = _n(), _n(), _n(), _n()


class TeamWeek(TeamWeekFigures, _WeekSpan):
    pass


class TeamMember(Schema):
    resource_id, name = _s(), _s()
    title = _null()
    skills = _list(fields.String())
    active = _b()
    weeks = _list(fields.Nested(TeamWeek))
    totals = _nested(TeamWeekFigures)


class TeamOverview(Schema):
    from_date, to_date = _s(), _s()
    skill = _null()
    weeks = _list(fields.String())
    people = _list(fields.Nested(TeamMember))


# -- forecast and health (issue 17) ---------------------------------------------------------------------------
class ForecastFigures(Schema):
    actual_hours, planned_hours, tentative_hours, eac_hours, unpriced_hours = _n(), _n(), _n(), _n(), _n()
    budget_hours, variance_hours = _null(fields.Float), _null(fields.Float)
    actual_amount, planned_amount, eac_amount, budget_amount, variance_amount = (_null(), _null(), _null(), _null(),
                                                                                 _null())


class PhaseForecast(ForecastFigures):
    phase_id, name = _s(), _s()


class Forecast(ForecastFigures):
    project_id, today, currency = _s(), _s(), _s()
    phases = _list(fields.Nested(PhaseForecast))
    unphased = fields.Nested(ForecastFigures, required=True, allow_none=True)


class BurnPeriod(Schema):
    period, starts_on, ends_on = _s(), _s(), _s()
    actual_hours, planned_hours, cumulative_actual_hours, cumulative_planned_hours = _n(), _n(), _n(), _n()
    forecast_hours = _n()
    budget_hours, burn_percent = _null(fields.Float), _null(fields.Float)
    actual_amount, planned_amount, cumulative_actual_amount, cumulative_planned_amount = (_null(), _null(), _null(),
                                                                                          _null())
    forecast_amount, budget_amount = _null(), _null()


class Burn(Schema):
    project_id, interval, today, currency = _s(), _s(), _s(), _s()
    series = _list(fields.Nested(BurnPeriod))


class HealthPart(Schema):
    status = _s(metadata={"description": "green, amber or red"})
    reason = _s()


class Health(Schema):
    project_id, today, overall = _s(), _s(), _s()
    waiting_days = _i()
    schedule, budget, staffing, approvals = (_nested(HealthPart), _nested(HealthPart), _nested(HealthPart),
                                             _nested(HealthPart))
