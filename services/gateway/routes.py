"""The REST API's routes: each one an RPC of a service, with the RPC's own argument schema.

The argument schema serves twice: the service validates the arguments with it, and the OpenAPI document is
generated from it. A route names where each argument comes from: the path (its variables are named as the
schema's fields), the query string (GET and DELETE) or the JSON body (POST, PUT, PATCH), and ``caller``:
fields that are the verified caller's own id (``/me/...``), never taken from the request. ``returns`` is what
it answers on success (``responses.py``), for the document too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import Schema

from services.notification import schemas as notification
from services.project import schemas as project
from services.resource import schemas as resource
from services.timesheet import schemas as timesheet

from . import responses as r


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # werkzeug syntax: /projects/<project_id>
    service: str
    rpc: str
    schema: type[Schema]
    returns: Schema  # what it answers on success (responses.py)
    summary: str
    tag: str
    caller: tuple = ()  # fields filled with the caller's subject
    renamed: dict = field(default_factory=dict)  # query name -> argument name (``from`` -> ``from_date``)
    created: bool = False  # 201 on success
    paged: bool = False  # a list answered page by page (limit, cursor, Link)
    versioned: bool = False  # answers with an ETag (the aggregate's version)
    conditional: bool = False  # If-Match becomes ``expected_version``

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    @property
    def path_fields(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("<")]

    @property
    def is_command(self) -> bool:
        return "command_id" in self.schema._declared_fields

    def input_fields(self) -> list[str]:
        """The schema's fields a client may send, in the query or the body."""
        internal = {"command_id", "expected_version", "min_position", *self.caller, *self.path_fields}
        return [name for name in self.schema._declared_fields if name not in internal]


def _r(method, path, service, rpc, schema, returns, summary, tag, **options):
    return Route(method, path, service, rpc, schema, returns, summary, tag, **options)


ROUTES = [
    # -- projects ------------------------------------------------------------------------------------
    _r("GET", "/projects", "project", "list_projects", project.ListProjectsSchema,
       r.ProjectSummary(many=True), "List projects", "projects", paged=True),
    _r("POST", "/projects", "project", "create_project", project.CreateProjectSchema, r.ProjectWritten(),
       "Create a project", "projects", created=True),
    _r("GET", "/projects/<project_id>", "project", "get_project", project.GetProjectSchema, r.Project(),
       "A project (as it stood at ``as_of``, if given)", "projects", versioned=True),
    _r("PATCH", "/projects/<project_id>", "project", "update_project", project.UpdateProjectSchema,
       r.ProjectWritten(), "Change a project", "projects", versioned=True, conditional=True),
    _r("POST", "/projects/<project_id>/tasks", "project", "add_task", project.AddTaskSchema, r.TaskWritten(),
       "Add a task", "projects", created=True),
    _r("POST", "/projects/<project_id>/tasks/<task_id>/close", "project", "close_task",
       project.CloseTaskSchema, r.TaskWritten(),
       "Close a task", "projects"),
    _r("PUT", "/projects/<project_id>/members/<employee_id>", "project", "assign_member",
       project.AssignMemberSchema, r.MemberWritten(), "Make a person a member of a project", "projects"),
    _r("DELETE", "/projects/<project_id>/members/<employee_id>", "project", "remove_member",
       project.RemoveMemberSchema, r.MemberRemoved(), "Remove a member from a project", "projects"),
    _r("POST", "/projects/<project_id>/status", "project", "change_status", project.ChangeStatusSchema,
       r.ProjectWritten(), "Change a project's status", "projects"),
    _r("POST", "/projects/<project_id>/delegations", "project", "delegate_approvals",
       project.DelegateApprovalsSchema, r.Delegations(),
       "Name a delegate approver for a date range (holidays)", "projects", created=True),
    _r("GET", "/projects/<project_id>/progress", "project", "project_progress", project.ProjectIdSchema,
       r.Progress(), "Hours and money used against the budget", "projects"),
    _r("GET", "/projects/<project_id>/history", "project", "history", project.HistorySchema,
       r.ProjectChange(many=True), "Every change to a project: who, when, what", "projects"),
    _r("GET", "/projects/<project_id>/hours", "timesheet", "project_hours", timesheet.ProjectHoursSchema,
       r.ProjectHours(), "Hours logged on a project, by person and task", "projects",
       renamed={"from": "from_date", "to": "to_date"}),
    # -- the plan: phases, tasks, milestones, status reports
    _r("POST", "/projects/<project_id>/phases", "project", "add_phase", project.AddPhaseSchema, r.PhaseWritten(),
       "Add a phase (at a position, or last)", "planning", created=True),
    _r("GET", "/projects/<project_id>/phases", "project", "list_phases", project.ProjectIdSchema,
       r.Phase(many=True), "The project's phases in order", "planning"),
    _r("PATCH", "/projects/<project_id>/phases/<phase_id>", "project", "update_phase", project.UpdatePhaseSchema,
       r.PhaseWritten(), "Change or move a phase", "planning"),
    _r("GET", "/projects/<project_id>/tasks", "project", "list_tasks", project.ListTasksSchema,
       r.TaskDetail(many=True), "The project's tasks, with the hours logged on each", "planning"),
    _r("PATCH", "/projects/<project_id>/tasks/<task_id>", "project", "update_task", project.UpdateTaskSchema,
       r.TaskWritten(), "Rename, assign, date, estimate, move or set the status of a task", "planning"),
    _r("POST", "/projects/<project_id>/tasks/<task_id>/reopen", "project", "reopen_task", project.TaskIdSchema,
       r.TaskWritten(), "Reopen a closed task", "planning"),
    _r("POST", "/projects/<project_id>/milestones", "project", "add_milestone", project.AddMilestoneSchema,
       r.MilestoneWritten(), "Add a milestone", "planning", created=True),
    _r("GET", "/projects/<project_id>/milestones", "project", "list_milestones", project.ListMilestonesSchema,
       r.Milestone(many=True), "The project's milestones by due date", "planning"),
    _r("PATCH", "/projects/<project_id>/milestones/<milestone_id>", "project", "update_milestone",
       project.UpdateMilestoneSchema, r.MilestoneWritten(), "Rename, re-date or hand over a milestone", "planning"),
    _r("POST", "/projects/<project_id>/milestones/<milestone_id>/complete", "project", "complete_milestone",
       project.CompleteMilestoneSchema, r.MilestoneWritten(), "Complete a milestone", "planning"),
    _r("POST", "/projects/<project_id>/milestones/<milestone_id>/reopen", "project", "reopen_milestone",
       project.MilestoneIdSchema, r.MilestoneWritten(), "Reopen a completed milestone", "planning"),
    _r("POST", "/milestone-checks", "project", "check_milestones", project.CheckMilestonesSchema,
       r.MilestoneCheck(), "Check the milestones now, as the timer does (admins)", "planning"),
    _r("POST", "/projects/<project_id>/status-reports", "project", "record_status_report",
       project.RecordStatusReportSchema, r.StatusReportWritten(), "Record the week's status report", "planning",
       created=True),
    _r("GET", "/projects/<project_id>/status-reports", "project", "status_reports", project.StatusReportsSchema,
       r.StatusReport(many=True), "The status reports (as recorded by ``as_of``, if given)", "planning"),
    # -- hours ---------------------------------------------------------------------------------------
    _r("POST", "/time-entries", "timesheet", "log_time", timesheet.LogTimeSchema, r.EntryWritten(),
       "Log time", "hours", created=True),
    _r("PATCH", "/time-entries/<entry_id>", "timesheet", "amend_entry", timesheet.AmendEntrySchema,
       r.EntryWritten(), "Amend a time entry", "hours"),
    _r("DELETE", "/time-entries/<entry_id>", "timesheet", "delete_entry", timesheet.DeleteEntrySchema,
       r.EntryDeleted(), "Delete a time entry", "hours"),
    _r("GET", "/timesheets/<employee_id>/<week>", "timesheet", "get_timesheet", timesheet.GetTimesheetSchema,
       r.Week(), "A person's week (as it stood at ``as_of``, if given)", "hours", versioned=True),
    _r("GET", "/timesheets/<employee_id>/<week>/history", "timesheet", "history", timesheet.HistorySchema,
       r.WeekHistory(), "Every change to a week", "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/submit", "timesheet", "submit_timesheet",
       timesheet.SubmitSchema, r.WeekWritten(),
       "Submit a week for approval", "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/approve", "timesheet", "approve_timesheet",
       timesheet.ApproveSchema, r.WeekWritten(), "Approve a week (all of it, or one project's lines)",
       "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/reject", "timesheet", "reject_timesheet",
       timesheet.RejectSchema, r.WeekWritten(),
       "Reject a week, with a reason", "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/reopen", "timesheet", "reopen_timesheet",
       timesheet.ReopenSchema, r.WeekWritten(),
       "Reopen an approved week, with a reason", "hours"),
    _r("GET", "/approvals/pending", "timesheet", "pending_approvals", timesheet.PendingApprovalsSchema,
       r.PendingWeek(many=True),
       "The weeks waiting for the caller's approval (an admin may name another approver)", "hours", paged=True),
    _r("POST", "/period-locks", "timesheet", "lock_period", timesheet.LockPeriodSchema, r.Lock(),
       "Lock every entry through a date (admins; at most a few days ahead)", "hours", created=True),
    _r("GET", "/period-locks", "timesheet", "period_lock", timesheet.PeriodLockSchema, r.PeriodLock(),
       "The period lock and its history", "hours"),
    _r("POST", "/period-locks/unlock", "timesheet", "unlock_period", timesheet.UnlockPeriodSchema, r.Lock(),
       "Unlock back to an earlier date, with a reason (admins)", "hours"),
    # -- resources -----------------------------------------------------------------------------------
    _r("GET", "/resources", "resource", "list_resources", resource.ListResourcesSchema,
       r.Resource(many=True), "List people", "resources", paged=True),
    _r("POST", "/resources", "resource", "register_resource", resource.RegisterResourceSchema,
       r.ResourceWritten(), "Register a person", "resources", created=True),
    _r("GET", "/resources/<resource_id>", "resource", "get_resource", resource.GetResourceSchema,
       r.ResourceDetail(), "A person, with bookings and absences", "resources", versioned=True),
    _r("PATCH", "/resources/<resource_id>", "resource", "update_resource", resource.UpdateResourceSchema,
       r.ResourceWritten(), "Change a person", "resources", versioned=True, conditional=True),
    _r("POST", "/resources/<resource_id>/deactivate", "resource", "deactivate_resource",
       resource.ResourceIdSchema, r.Deactivated(),
       "Deactivate a person (cancels their future bookings)", "resources"),
    _r("GET", "/resources/<resource_id>/history", "resource", "history", resource.HistorySchema,
       r.Envelope(many=True), "Every change to a person", "resources"),
    _r("POST", "/resources/<resource_id>/bookings", "resource", "book_resource", resource.BookResourceSchema,
       r.BookingWritten(), "Book a person on a project", "resources", created=True),
    _r("DELETE", "/resources/<resource_id>/bookings/<booking_id>", "resource", "cancel_booking",
       resource.CancelBookingSchema, r.BookingCancelled(), "Cancel a booking", "resources"),
    _r("POST", "/resources/<resource_id>/absences", "resource", "register_absence",
       resource.RegisterAbsenceSchema, r.AbsenceWritten(),
       "Register an absence", "resources", created=True),
    _r("DELETE", "/resources/<resource_id>/absences/<absence_id>", "resource", "cancel_absence",
       resource.CancelAbsenceSchema, r.AbsenceCancelled(), "Cancel an absence", "resources"),
    _r("GET", "/resources/<resource_id>/availability", "resource", "availability",
       resource.AvailabilitySchema, r.Availability(),
       "A person's free hours, day by day", "resources", renamed={"from": "from_date", "to": "to_date"}),
    _r("GET", "/availability/search", "resource", "find_available", resource.FindAvailableSchema,
       r.Available(many=True), "People free for some hours a day over a range", "resources",
       renamed={"from": "from_date", "to": "to_date"}),
    _r("GET", "/utilisation", "resource", "utilisation", resource.UtilisationSchema, r.Utilisation(),
       "Booked and logged hours against capacity", "resources", renamed={"from": "from_date", "to": "to_date"}),
    # staffing (issue 17)
    _r("PATCH", "/resources/<resource_id>/bookings/<booking_id>", "resource", "change_booking",
       resource.ChangeBookingSchema, r.BookingChanged(),
       "Change a booking's dates, hours per day or tentative flag", "resources"),
    _r("POST", "/resources/<resource_id>/bookings/<booking_id>/confirm", "resource", "confirm_booking",
       resource.ConfirmBookingSchema, r.BookingConfirmed(), "Confirm a tentative booking", "resources"),
    _r("GET", "/projects/<project_id>/staffing", "resource", "project_staffing", resource.ProjectStaffingSchema,
       r.ProjectStaffing(), "Who is booked on a project by ISO week, and who logged hours without a booking",
       "projects", renamed={"from": "from_date", "to": "to_date"}),
    _r("GET", "/team-overview", "resource", "team_overview", resource.TeamOverviewSchema, r.TeamOverview(),
       "Every person by ISO week: capacity, absences, booked, tentative and logged", "resources",
       renamed={"from": "from_date", "to": "to_date"}),
    # -- notifications and webhooks ---------------------------------------------------------------------
    _r("GET", "/me/notifications", "notification", "inbox", notification.InboxSchema,
       r.Notification(many=True), "The caller's notifications", "notifications", caller=("user_id",)),
    _r("POST", "/me/notifications/<notification_id>/read", "notification", "mark_read",
       notification.MarkReadSchema, r.Read(),
       "Mark a notification read", "notifications", caller=("user_id",)),
    _r("GET", "/me/preferences", "notification", "get_preferences", notification.GetPreferencesSchema,
       r.PreferencesShown(), "The caller's notification preferences", "notifications", caller=("user_id",)),
    _r("PUT", "/me/preferences", "notification", "set_preferences", notification.SetPreferencesSchema,
       r.PreferencesWritten(),
       "Set the caller's notification preferences", "notifications", caller=("user_id",)),
    _r("GET", "/webhooks", "notification", "list_webhooks", notification.ListWebhooksSchema,
       r.Webhook(many=True), "List webhooks", "webhooks", paged=True),
    _r("POST", "/webhooks", "notification", "register_webhook", notification.RegisterWebhookSchema,
       r.WebhookRegistered(), "Register a webhook", "webhooks", created=True),
    _r("DELETE", "/webhooks/<webhook_id>", "notification", "remove_webhook", notification.WebhookIdSchema,
       r.WebhookRemoved(), "Remove a webhook", "webhooks"),
    _r("GET", "/webhooks/<webhook_id>/deliveries", "notification", "deliveries",
       notification.DeliveriesSchema, r.Delivery(many=True),
       "A webhook's deliveries, newest first", "webhooks"),
    _r("POST", "/webhook-deliveries/<delivery_id>/redeliver", "notification", "redeliver",
       notification.RedeliverSchema, r.Redelivered(), "Send a delivery again", "webhooks"),
    # -- money: clients, rates, profitability (issue 16) ---------------------------------------------
    _r("GET", "/clients", "project", "list_clients", project.ListClientsSchema, r.ClientSummary(many=True),
       "List clients (legacy ones, a free-text customer of older projects, included)", "money", paged=True),
    _r("POST", "/clients", "project", "create_client", project.CreateClientSchema, r.ClientWritten(),
       "Create a client (admins)", "money", created=True),
    _r("GET", "/clients/<client_id>", "project", "get_client", project.ClientIdSchema, r.ClientDetail(),
       "A client with its projects and their figures by currency", "money", versioned=True),
    _r("PATCH", "/clients/<client_id>", "project", "update_client", project.UpdateClientSchema, r.ClientWritten(),
       "Change a client (admins)", "money", versioned=True, conditional=True),
    _r("POST", "/clients/<client_id>/rates", "project", "set_client_rate", project.SetClientRateSchema,
       r.ClientWritten(), "Set a client's default billing rate from a date (admins)", "money", created=True),
    _r("POST", "/projects/<project_id>/rates", "project", "set_rate", project.SetRateSchema, r.RateWritten(),
       "Set a billing rate from a date for a project, a task or a member", "money", created=True),
    _r("GET", "/profitability", "project", "profitability", project.ProfitabilitySchema, r.Profitability(),
       "Hours, revenue, cost and margin over a range, grouped, by currency", "money",
       renamed={"from": "from_date", "to": "to_date"}),
    _r("POST", "/resources/<resource_id>/cost-rates", "resource", "set_cost_rate", resource.SetCostRateSchema,
       r.CostRatesWritten(), "Set what an hour of a person costs from a date (admins)", "money", created=True),
    _r("GET", "/resources/<resource_id>/cost-rates", "resource", "cost_rates", resource.CostRatesSchema,
       r.CostRates(), "A person's cost rates and their history (admins)", "money"),
    # -- forecast and health (issue 17) --------------------------------------------------------------
    _r("GET", "/projects/<project_id>/forecast", "project", "project_forecast", project.ProjectIdSchema,
       r.Forecast(), "Actuals, planned hours ahead, estimate at completion and variance, per phase too", "projects"),
    _r("GET", "/projects/<project_id>/burn", "project", "project_burn", project.ProjectBurnSchema, r.Burn(),
       "Budget burn by week or month: actual against planned, and the forecast", "projects"),
    _r("GET", "/projects/<project_id>/health", "project", "project_health", project.ProjectHealthSchema, r.Health(),
       "Schedule, budget, staffing and approvals: green, amber or red, with the reason", "projects"),
]

SERVICES = ("project", "timesheet", "resource", "notification")
