"""What the RPCs accept: validated before anything is read or appended (``shared.validation``)."""
from marshmallow import Schema

from shared.validation import CommandSchema, Id, Money, Position, Text


class ClaimExpenseSchema(CommandSchema):
    project_id = Id(required=True)
    amount = Money(required=True)
    note = Text(multiline=True, load_default="")


class ApproveExpenseSchema(CommandSchema):
    expense_id = Id(required=True)


class ProjectExpensesSchema(Schema):
    project_id = Id(required=True)
    min_position = Position()
