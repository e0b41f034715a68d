"""The expenses nameko service: entrypoints only. ``KitService`` serves ``status`` and the feed, and records the
project service's events (``sources=``) for the read model."""
from shared import entrypoints
from shared.catalog import sources
from shared.entrypoints import rpc
from shared.kit import Chronicle
from shared.validation import load

from . import handlers, schemas
from .events import events
from .projections import ExpensesView


class ExpensesService(entrypoints.KitService):
    name = "expenses"
    chronicle = Chronicle(categories=["expense"], events=events, projections=lambda: [ExpensesView()],
                          sources=sources("project"))

    @rpc
    def claim_expense(self, **kwargs):
        return handlers.claim_expense(load(schemas.ClaimExpenseSchema, kwargs), self.chronicle)

    @rpc
    def approve_expense(self, **kwargs):
        return handlers.approve_expense(load(schemas.ApproveExpenseSchema, kwargs), self.chronicle)

    @rpc
    def project_expenses(self, **kwargs):
        return handlers.project_expenses(load(schemas.ProjectExpensesSchema, kwargs), self.chronicle)
