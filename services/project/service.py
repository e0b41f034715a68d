"""The project nameko service: its entrypoints, each loading its arguments and calling its handler (handlers.py)."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from shared import config as cfg
from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.kit import Chronicle
from shared.validation import load

from . import forecast_handlers, handlers, schemas
from .domain import CodeReservation
from .events import events
from .forecast import DEFAULT_WAITING_DAYS
from .forecast_views import ForecastFactsView
from .forecast_watch import ForecastWatchReactor
from .projections import ProjectsView, ResourcesView, TimeEntriesView
from .reactors import BudgetWatch
from .today import Today


class ProjectService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "project"
    chronicle = Chronicle(
        categories=CATEGORIES["project"], events=events, internal_categories=[CodeReservation.category],
        projections=lambda: [ProjectsView(), ResourcesView(), TimeEntriesView(), ForecastFactsView()],
        sources=sources("resource", "timesheet"), reactors=lambda: [BudgetWatch(), ForecastWatchReactor()],
    )
    today = Today()  # the calendar's date (PROJECT_FIXED_TODAY fixes it)

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
        return handlers.close_task(load(schemas.CloseTaskSchema, kwargs), self.chronicle)

    @rpc
    def assign_member(self, **kwargs):
        return handlers.assign_member(load(schemas.AssignMemberSchema, kwargs), self.chronicle)

    @rpc
    def remove_member(self, **kwargs):
        return handlers.remove_member(load(schemas.RemoveMemberSchema, kwargs), self.chronicle)

    @rpc
    def change_status(self, **kwargs):
        today = datetime.now(timezone.utc).date().isoformat()
        return handlers.change_status(load(schemas.ChangeStatusSchema, kwargs), self.chronicle, today=today)

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

    # -- forecast and health (forecast_handlers.py) ---------------------------------------------
    @rpc
    def project_forecast(self, **kwargs):
        """Actual hours and money to date, planned hours ahead from bookings (less absences), the estimate at
        completion and its variance against each budget, for the project and per phase: for admins and the
        project's manager."""
        return forecast_handlers.project_forecast(load(schemas.ProjectIdSchema, kwargs), self.chronicle,
                                                  today=self.today())

    @rpc
    def project_burn(self, **kwargs):
        """Per week or month: hours (and money) logged and planned, cumulated, the forecast and the budget burnt:
        for admins and the project's manager."""
        return forecast_handlers.project_burn(load(schemas.ProjectBurnSchema, kwargs), self.chronicle,
                                              today=self.today())

    @rpc
    def project_health(self, **kwargs):
        """Schedule, budget, staffing and approvals, each green, amber or red with the reason in words: for admins
        and the project's manager."""
        waiting_days = int(cfg.number(self.chronicle.config, "PROJECT_APPROVAL_WAITING_DAYS", DEFAULT_WAITING_DAYS))
        return forecast_handlers.project_health(load(schemas.ProjectHealthSchema, kwargs), self.chronicle,
                                                today=self.today(), waiting_days=waiting_days)
