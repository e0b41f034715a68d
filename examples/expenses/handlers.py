"""One function per command or query: the validated arguments and the kit handle (``chronicle``). A handler orders
the access rule, the facts from other services and the one write; the rules themselves are in domain.py."""
from shared.errors import RuleViolation
from shared.handling import derive_id

from .domain import Expense, require_approver
from .projections import expenses_of, manager_of


def claim_expense(args, chronicle):
    caller = chronicle.caller
    caller.require("employee", "manager", what="claiming an expense")
    expense_id = derive_id(args["command_id"], "expense")  # the same id for every retry of the command

    def project_known():  # precheck: skipped when the command_id was applied already, so a retry replays
        chronicle.ensure(lambda db: manager_of(db, args["project_id"]), "project",
                         RuleViolation("the project is not known", code="expense.project_unknown"))

    outcome = chronicle.execute(
        Expense, expense_id,
        lambda e: e.claim(caller.subject, args["project_id"], args["amount"], args["note"]),
        command_id=args["command_id"], precheck=project_known)
    return {"expense_id": outcome.aggregate.id, "position": outcome.position}


def approve_expense(args, chronicle):
    expense = chronicle.get(Expense, args["expense_id"], what="expense")
    require_approver(chronicle.caller, chronicle.query(lambda db: manager_of(db, expense.project_id)))
    outcome = chronicle.execute(Expense, expense.id, lambda e: e.approve(chronicle.caller.subject),
                                command_id=args["command_id"])
    return {"expense_id": expense.id, "approved_by": outcome.aggregate.approved_by, "position": outcome.position}


def project_expenses(args, chronicle):
    manager = chronicle.query(lambda db: manager_of(db, args["project_id"]), min_position=args["min_position"])
    require_approver(chronicle.caller, manager)
    return chronicle.query(lambda db: expenses_of(db, args["project_id"]))
