"""The REST API's routes: each one an RPC of a service, with the RPC's own argument schema.

The schema serves twice: the service validates the arguments with it, and the OpenAPI document is generated from
it. A route names where each argument comes from: the path (its variables are named as the schema's fields), the
query string (GET and DELETE) or the JSON body (POST, PUT, PATCH), and ``caller``: fields that are the verified
caller's own id (``/me/...``, the approver of a timesheet), never taken from the request.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import Schema

from services.notification import schemas as notification
from services.project import schemas as project
from services.resource import schemas as resource
from services.timesheet import schemas as timesheet


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # werkzeug syntax: /projects/<project_id>
    service: str
    rpc: str
    schema: type[Schema]
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


def _r(method, path, service, rpc, schema, summary, tag, **options):
    return Route(method, path, service, rpc, schema, summary, tag, **options)


ROUTES = [
    # -- projects ------------------------------------------------------------------------------------
    _r("GET", "/projects", "project", "list_projects", project.ListProjectsSchema, "List projects", "projects",
       paged=True),
    _r("POST", "/projects", "project", "create_project", project.CreateProjectSchema, "Create a project", "projects",
       created=True),
    _r("GET", "/projects/<project_id>", "project", "get_project", project.GetProjectSchema,
       "A project (as it stood at ``as_of``, if given)", "projects", versioned=True),
    _r("PATCH", "/projects/<project_id>", "project", "update_project", project.UpdateProjectSchema,
       "Change a project", "projects", versioned=True, conditional=True),
    _r("POST", "/projects/<project_id>/tasks", "project", "add_task", project.AddTaskSchema, "Add a task", "projects",
       created=True),
    _r("POST", "/projects/<project_id>/tasks/<task_id>/close", "project", "close_task", project.CloseTaskSchema,
       "Close a task", "projects"),
    _r("PUT", "/projects/<project_id>/members/<employee_id>", "project", "assign_member",
       project.AssignMemberSchema, "Make a person a member of a project", "projects"),
    _r("DELETE", "/projects/<project_id>/members/<employee_id>", "project", "remove_member",
       project.RemoveMemberSchema, "Remove a member from a project", "projects"),
    _r("POST", "/projects/<project_id>/status", "project", "change_status", project.ChangeStatusSchema,
       "Change a project's status", "projects"),
    _r("POST", "/projects/<project_id>/delegations", "project", "delegate_approvals", project.DelegateApprovalsSchema,
       "Name a delegate approver for a date range (holidays)", "projects", created=True),
    _r("GET", "/projects/<project_id>/progress", "project", "project_progress", project.ProjectIdSchema,
       "Hours and money used against the budget", "projects"),
    _r("GET", "/projects/<project_id>/history", "project", "history", project.HistorySchema,
       "Every change to a project: who, when, what", "projects"),
    _r("GET", "/projects/<project_id>/hours", "timesheet", "project_hours", timesheet.ProjectHoursSchema,
       "Hours logged on a project, by person and task", "projects",
       renamed={"from": "from_date", "to": "to_date"}),
    # -- hours ---------------------------------------------------------------------------------------
    _r("POST", "/time-entries", "timesheet", "log_time", timesheet.LogTimeSchema, "Log time", "hours", created=True),
    _r("PATCH", "/time-entries/<entry_id>", "timesheet", "amend_entry", timesheet.AmendEntrySchema,
       "Amend a time entry", "hours"),
    _r("DELETE", "/time-entries/<entry_id>", "timesheet", "delete_entry", timesheet.DeleteEntrySchema,
       "Delete a time entry", "hours"),
    _r("GET", "/timesheets/<employee_id>/<week>", "timesheet", "get_timesheet", timesheet.GetTimesheetSchema,
       "A person's week (as it stood at ``as_of``, if given)", "hours", versioned=True),
    _r("GET", "/timesheets/<employee_id>/<week>/history", "timesheet", "history", timesheet.HistorySchema,
       "Every change to a week", "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/submit", "timesheet", "submit_timesheet", timesheet.SubmitSchema,
       "Submit a week for approval", "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/approve", "timesheet", "approve_timesheet",
       timesheet.ApproveSchema, "Approve a week (all of it, or one project's lines)", "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/reject", "timesheet", "reject_timesheet", timesheet.RejectSchema,
       "Reject a week, with a reason", "hours"),
    _r("POST", "/timesheets/<employee_id>/<week>/reopen", "timesheet", "reopen_timesheet", timesheet.ReopenSchema,
       "Reopen an approved week, with a reason", "hours"),
    _r("GET", "/approvals/pending", "timesheet", "pending_approvals", timesheet.PendingApprovalsSchema,
       "The weeks waiting for the caller's approval (an admin may name another approver)", "hours", paged=True),
    _r("POST", "/period-locks", "timesheet", "lock_period", timesheet.LockPeriodSchema,
       "Lock every entry through a date (admins; at most a few days ahead)", "hours", created=True),
    _r("GET", "/period-locks", "timesheet", "period_lock", timesheet.PeriodLockSchema,
       "The period lock and its history", "hours"),
    _r("POST", "/period-locks/unlock", "timesheet", "unlock_period", timesheet.UnlockPeriodSchema,
       "Unlock back to an earlier date, with a reason (admins)", "hours"),
    # -- resources -----------------------------------------------------------------------------------
    _r("GET", "/resources", "resource", "list_resources", resource.ListResourcesSchema, "List people",
       "resources", paged=True),
    _r("POST", "/resources", "resource", "register_resource", resource.RegisterResourceSchema, "Register a person",
       "resources", created=True),
    _r("GET", "/resources/<resource_id>", "resource", "get_resource", resource.GetResourceSchema,
       "A person, with bookings and absences", "resources", versioned=True),
    _r("PATCH", "/resources/<resource_id>", "resource", "update_resource", resource.UpdateResourceSchema,
       "Change a person", "resources", versioned=True, conditional=True),
    _r("POST", "/resources/<resource_id>/deactivate", "resource", "deactivate_resource", resource.ResourceIdSchema,
       "Deactivate a person (cancels their future bookings)", "resources"),
    _r("GET", "/resources/<resource_id>/history", "resource", "history", resource.HistorySchema,
       "Every change to a person", "resources"),
    _r("POST", "/resources/<resource_id>/bookings", "resource", "book_resource", resource.BookResourceSchema,
       "Book a person on a project", "resources", created=True),
    _r("DELETE", "/resources/<resource_id>/bookings/<booking_id>", "resource", "cancel_booking",
       resource.CancelBookingSchema, "Cancel a booking", "resources"),
    _r("POST", "/resources/<resource_id>/absences", "resource", "register_absence", resource.RegisterAbsenceSchema,
       "Register an absence", "resources", created=True),
    _r("DELETE", "/resources/<resource_id>/absences/<absence_id>", "resource", "cancel_absence",
       resource.CancelAbsenceSchema, "Cancel an absence", "resources"),
    _r("GET", "/resources/<resource_id>/availability", "resource", "availability", resource.AvailabilitySchema,
       "A person's free hours, day by day", "resources", renamed={"from": "from_date", "to": "to_date"}),
    _r("GET", "/availability/search", "resource", "find_available", resource.FindAvailableSchema,
       "People free for some hours a day over a range", "resources",
       renamed={"from": "from_date", "to": "to_date"}),
    _r("GET", "/utilisation", "resource", "utilisation", resource.UtilisationSchema,
       "Booked and logged hours against capacity", "resources", renamed={"from": "from_date", "to": "to_date"}),
    # -- notifications and webhooks ---------------------------------------------------------------------
    _r("GET", "/me/notifications", "notification", "inbox", notification.InboxSchema, "The caller's notifications",
       "notifications", caller=("user_id",)),
    _r("POST", "/me/notifications/<notification_id>/read", "notification", "mark_read", notification.MarkReadSchema,
       "Mark a notification read", "notifications", caller=("user_id",)),
    _r("GET", "/me/preferences", "notification", "get_preferences", notification.GetPreferencesSchema,
       "The caller's notification preferences", "notifications", caller=("user_id",)),
    _r("PUT", "/me/preferences", "notification", "set_preferences", notification.SetPreferencesSchema,
       "Set the caller's notification preferences", "notifications", caller=("user_id",)),
    _r("GET", "/webhooks", "notification", "list_webhooks", notification.ListWebhooksSchema, "List webhooks",
       "webhooks", paged=True),
    _r("POST", "/webhooks", "notification", "register_webhook", notification.RegisterWebhookSchema,
       "Register a webhook", "webhooks", created=True),
    _r("DELETE", "/webhooks/<webhook_id>", "notification", "remove_webhook", notification.WebhookIdSchema,
       "Remove a webhook", "webhooks"),
    _r("GET", "/webhooks/<webhook_id>/deliveries", "notification", "deliveries", notification.DeliveriesSchema,
       "A webhook's deliveries, newest first", "webhooks"),
    _r("POST", "/webhook-deliveries/<delivery_id>/redeliver", "notification", "redeliver",
       notification.RedeliverSchema, "Send a delivery again", "webhooks"),
]

SERVICES = ("project", "timesheet", "resource", "notification")
