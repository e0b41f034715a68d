"""The expenses service's events: one schema per type and version (``schema_version``)."""
from marshmallow import Schema, fields

from shared.events import EventRegistry
from shared.validation import Money

events = EventRegistry()


@events.register("ExpenseClaimed", version=1)
class ExpenseClaimedV1(Schema):
    expense_id = fields.String(required=True)
    project_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    amount = Money(required=True)
    note = fields.String(required=True)


@events.register("ExpenseApproved", version=1)
class ExpenseApprovedV1(Schema):
    expense_id = fields.String(required=True)
    project_id = fields.String(required=True)
    approver_id = fields.String(required=True)
