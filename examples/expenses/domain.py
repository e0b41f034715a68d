"""An expense claimed on a project and approved by the project's manager. Pure: no nameko, no I/O, no clock."""
from shared.aggregate import Aggregate
from shared.errors import Forbidden, RuleViolation


class Expense(Aggregate):
    category = "expense"

    def __init__(self, id):
        super().__init__(id)
        self.employee_id = self.project_id = None
        self.approved_by = None

    def claim(self, employee_id, project_id, amount, note=""):
        if self.exists:
            raise RuleViolation("this expense is claimed already", code="expense.exists")
        self.record("ExpenseClaimed", expense_id=self.id, project_id=project_id, employee_id=employee_id,
                    amount=amount, note=note)

    def approve(self, approver_id):
        if approver_id == self.employee_id:
            raise Forbidden("nobody approves their own expenses", code="auth.self_approval")
        if self.approved_by is not None:
            raise RuleViolation("this expense is approved already", code="expense.already_approved")
        self.record("ExpenseApproved", expense_id=self.id, project_id=self.project_id, approver_id=approver_id)

    def on_ExpenseClaimed(self, data):
        self.employee_id, self.project_id = data["employee_id"], data["project_id"]

    def on_ExpenseApproved(self, data):
        self.approved_by = data["approver_id"]


def require_approver(caller, manager_id):
    """An admin approves any expense; a manager those of the projects they manage."""
    caller.require("admin", "manager", what="approving an expense")
    if caller.role == "manager" and caller.subject != manager_id:
        raise Forbidden("you do not manage this expense's project", code="auth.not_manager")
