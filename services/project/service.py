"""The project nameko service: its entrypoints, each loading its arguments and calling its handler (handlers.py)."""
from __future__ import annotations

import time

from shared import config as cfg
from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.clock import Clock, ConfiguredTimer
from shared.entrypoints import rpc
from shared.kit import Chronicle
from shared.validation import load

from . import billing, forecast_handlers, handlers, planning_handlers, schemas
from .domain import CodeReservation
from .events import events
from .forecast import DEFAULT_WAITING_DAYS
from .forecast_views import ForecastFactsView
from .forecast_watch import ForecastWatchReactor
from .planning_views import MilestonesView, ProjectBookingsView
from .projections import ProjectsView, ResourcesView, TimeEntriesView
from .reactors import BudgetWatch

MILESTONE_TIMER_ACTOR = "project:milestone-timer"  # who records the timer's notices


class ProjectService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "project"
    chronicle = Chronicle(
        categories=CATEGORIES["project"], events=events, internal_categories=[CodeReservation.category],
        projections=lambda: [ProjectsView(), ResourcesView(), TimeEntriesView(), MilestonesView(),
                             ProjectBookingsView(), ForecastFactsView()],
        sources=sources("resource", "timesheet"), reactors=lambda: [BudgetWatch(), ForecastWatchReactor()],
    )
    clock = Clock(fixed="PROJECT_FIXED_NOW")  # the service's today; fixed in tests

    def today(self) -> str:
        return self.clock().calendar.date().isoformat()

    # -- commands -----------------------------------------------------------------------------
    @rpc
    def create_project(self, **kwargs):
        return handlers.create_project(load(schemas.CreateProjectSchema, kwargs), self.chronicle, now=time.time())

    @rpc
    def update_project(self, **kwargs):
        return handlers.update_project(load(schemas.UpdateProjectSchema, kwargs), self.chronicle)

    @rpc
    def add_task(self, **kwargs):
        return handlers.add_task(load(schemas.AddTaskSchema, kwargs), self.chronicle)

    @rpc
    def close_task(self, **kwargs):
        """Closes a task (status ``done``). A task with bookings planned from today on is refused
        (``project.task_has_bookings``) unless ``force``."""
        return planning_handlers.close_task(load(schemas.CloseTaskSchema, kwargs), self.chronicle, today=self.today())

    @rpc
    def assign_member(self, **kwargs):
        return handlers.assign_member(load(schemas.AssignMemberSchema, kwargs), self.chronicle)

    @rpc
    def remove_member(self, **kwargs):
        return handlers.remove_member(load(schemas.RemoveMemberSchema, kwargs), self.chronicle)

    @rpc
    def change_status(self, **kwargs):
        return handlers.change_status(load(schemas.ChangeStatusSchema, kwargs), self.chronicle, today=self.today())

    @rpc
    def delegate_approvals(self, **kwargs):
        """A delegate approves the project's hours for the weeks with a day in the range: for admins and the
        project's manager."""
        return handlers.delegate_approvals(load(schemas.DelegateApprovalsSchema, kwargs), self.chronicle)

    # -- queries ------------------------------------------------------------------------------
    @rpc
    def get_project(self, **kwargs):
        return handlers.get_project(load(schemas.GetProjectSchema, kwargs), self.chronicle)

    @rpc
    def list_projects(self, **kwargs):
        return handlers.list_projects(load(schemas.ListProjectsSchema, kwargs), self.chronicle)

    @rpc
    def project_progress(self, **kwargs):
        return handlers.project_progress(load(schemas.ProjectIdSchema, kwargs), self.chronicle)

    @rpc
    def history(self, **kwargs):
        return handlers.history(load(schemas.HistorySchema, kwargs), self.chronicle)

    # -- planning: phases, tasks, milestones, status reports ----------------------------------------------
    @rpc
    def add_phase(self, **kwargs):
        """Adds a phase at ``position`` (null: last): for admins and the project's manager."""
        return planning_handlers.add_phase(load(schemas.AddPhaseSchema, kwargs), self.chronicle)

    @rpc
    def update_phase(self, **kwargs):
        """Changes a phase; a new ``position`` reorders the phases."""
        return planning_handlers.update_phase(load(schemas.UpdatePhaseSchema, kwargs), self.chronicle)

    @rpc
    def list_phases(self, **kwargs):
        """The phases in order: for admins, the manager and the members (money to admins and the manager)."""
        return planning_handlers.list_phases(load(schemas.ProjectIdSchema, kwargs), self.chronicle)

    @rpc
    def update_task(self, **kwargs):
        """Renames, assigns (a member), dates, estimates, moves to a phase or sets the status of a task; status
        ``done`` closes it as ``close_task`` does (``force`` included)."""
        return planning_handlers.update_task(load(schemas.UpdateTaskSchema, kwargs), self.chronicle,
                                             today=self.today())

    @rpc
    def reopen_task(self, **kwargs):
        """A closed task is ``todo`` again and takes hours."""
        return planning_handlers.reopen_task(load(schemas.TaskIdSchema, kwargs), self.chronicle)

    @rpc
    def list_tasks(self, **kwargs):
        """The tasks with phase, assignee, due date, estimate, status and the hours logged on each."""
        return planning_handlers.list_tasks(load(schemas.ListTasksSchema, kwargs), self.chronicle)

    @rpc
    def add_milestone(self, **kwargs):
        """A milestone due on a date, owned by the manager or a member."""
        return planning_handlers.add_milestone(load(schemas.AddMilestoneSchema, kwargs), self.chronicle)

    @rpc
    def update_milestone(self, **kwargs):
        """Renames, re-dates or hands over a milestone; a missed one given a date not past is open again."""
        return planning_handlers.update_milestone(load(schemas.UpdateMilestoneSchema, kwargs), self.chronicle,
                                                  today=self.today())

    @rpc
    def complete_milestone(self, **kwargs):
        """Done on ``completed_on`` (null: today)."""
        return planning_handlers.complete_milestone(load(schemas.CompleteMilestoneSchema, kwargs), self.chronicle,
                                                    today=self.today())

    @rpc
    def reopen_milestone(self, **kwargs):
        """A done milestone is open again."""
        return planning_handlers.reopen_milestone(load(schemas.MilestoneIdSchema, kwargs), self.chronicle)

    @rpc
    def list_milestones(self, **kwargs):
        """The milestones by due date, with owner, status and completion date."""
        return planning_handlers.list_milestones(load(schemas.ListMilestonesSchema, kwargs), self.chronicle)

    @rpc
    def check_milestones(self, **kwargs):
        """What the timer does, now, for ``today`` (null: the service's today): for admins."""
        args = load(schemas.CheckMilestonesSchema, kwargs)
        self.chronicle.caller.require("admin", what="checking milestones")
        return planning_handlers.check_milestones(self.chronicle, args["today"] or self.today())

    @ConfiguredTimer.decorator(interval=60, setting="MILESTONE_CHECK_SECONDS")
    def milestone_timer(self):
        return planning_handlers.check_milestones(self.chronicle, self.today(), actor=MILESTONE_TIMER_ACTOR)

    @rpc
    def record_status_report(self, **kwargs):
        """The week's status report: RAG, summary and risks; the caller is its author."""
        return planning_handlers.record_status_report(load(schemas.RecordStatusReportSchema, kwargs), self.chronicle)

    @rpc
    def status_reports(self, **kwargs):
        """The status reports, oldest first, as recorded by ``as_of`` (null: all)."""
        return planning_handlers.status_reports(load(schemas.StatusReportsSchema, kwargs), self.chronicle)

    # -- forecast and health (forecast_handlers.py) ---------------------------------------------
    @rpc
    def project_forecast(self, **kwargs):
        """Actual hours and money to date, planned hours ahead from bookings (less absences), the estimate at
        completion and its variance against each budget, for the project and per phase: for admins and the
        project's manager."""
        return forecast_handlers.project_forecast(load(schemas.ProjectIdSchema, kwargs), self.chronicle,
                                                  today=self.clock().calendar.date())

    @rpc
    def project_burn(self, **kwargs):
        """Per week or month: hours (and money) logged and planned, cumulated, the forecast and the budget burnt:
        for admins and the project's manager."""
        return forecast_handlers.project_burn(load(schemas.ProjectBurnSchema, kwargs), self.chronicle,
                                              today=self.clock().calendar.date())

    @rpc
    def project_health(self, **kwargs):
        """Schedule, budget, staffing and approvals, each green, amber or red with the reason in words: for admins
        and the project's manager."""
        waiting_days = int(cfg.number(self.chronicle.config, "PROJECT_APPROVAL_WAITING_DAYS", DEFAULT_WAITING_DAYS))
        return forecast_handlers.project_health(load(schemas.ProjectHealthSchema, kwargs), self.chronicle,
                                                today=self.clock().calendar.date(), waiting_days=waiting_days)

    # -- money: clients, billing rates, profitability (issue 16; services/project/billing.py) --------------------------
    @rpc
    def create_client(self, **kwargs):
        """A client: name, organisation number, currency, default billing rate and contact e-mail. For admins."""
        return billing.create_client(load(schemas.CreateClientSchema, kwargs), self.chronicle)

    @rpc
    def update_client(self, **kwargs):
        """Changes a client's name, organisation number, currency or contact e-mail. For admins."""
        return billing.update_client(load(schemas.UpdateClientSchema, kwargs), self.chronicle)

    @rpc
    def get_client(self, **kwargs):
        """A client with its projects and their figures by currency. For admins and managers (their projects)."""
        return billing.get_client(load(schemas.ClientIdSchema, kwargs), self.chronicle)

    @rpc
    def list_clients(self, **kwargs):
        """Every client, legacy ones (a free-text customer of older projects) included. For admins and managers."""
        return billing.list_clients(load(schemas.ListClientsSchema, kwargs), self.chronicle)

    @rpc
    def set_client_rate(self, **kwargs):
        """The client's default billing rate from a date on (null: none from then). For admins."""
        return billing.set_client_rate(load(schemas.SetClientRateSchema, kwargs), self.chronicle)

    @rpc
    def set_rate(self, **kwargs):
        """A billing rate from a date on, for the project, one of its tasks or one of its members (null: none at that
        level from then). For admins and the project's manager."""
        return billing.set_rate(load(schemas.SetRateSchema, kwargs), self.chronicle)

    @rpc
    def profitability(self, **kwargs):
        """Hours, billable hours, revenue, cost, margin and margin percent of the hours dated in a range, grouped by
        project, client, employee or month and by currency. Admins: all; managers: their projects."""
        return billing.profitability(load(schemas.ProfitabilitySchema, kwargs), self.chronicle)
