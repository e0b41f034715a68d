"""The project nameko service: its entrypoints, each loading its arguments and calling its handler (handlers.py)."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.kit import Chronicle
from shared.validation import load

from . import billing, handlers, schemas
from .domain import CodeReservation
from .events import events
from .projections import ProjectsView, ResourcesView, TimeEntriesView
from .reactors import BudgetWatch


class ProjectService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "project"
    chronicle = Chronicle(
        categories=CATEGORIES["project"], events=events, internal_categories=[CodeReservation.category],
        projections=lambda: [ProjectsView(), ResourcesView(), TimeEntriesView()],
        sources=sources("resource", "timesheet"), reactors=lambda: [BudgetWatch()],
    )

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
