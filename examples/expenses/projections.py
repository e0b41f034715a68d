"""The read model: each project's manager (from the project service's events) and its expenses."""
from shared.projections import Projection


class ExpensesView(Projection):
    name = "expenses"
    version = 1
    tables = ("expense_projects", "expenses")

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS expense_projects (project_id TEXT PRIMARY KEY, manager_id TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS expenses (expense_id TEXT PRIMARY KEY, project_id TEXT,"
                   " employee_id TEXT, amount TEXT, note TEXT, approved_by TEXT)")

    def on_ProjectCreated(self, db, event):
        db.execute("INSERT OR REPLACE INTO expense_projects VALUES (?, ?)",
                   (event.data["project_id"], event.data["manager_id"]))

    def on_ProjectUpdated(self, db, event):
        if "manager_id" in event.data["changes"]:
            db.execute("UPDATE expense_projects SET manager_id = ? WHERE project_id = ?",
                       (event.data["changes"]["manager_id"], event.data["project_id"]))

    def on_ExpenseClaimed(self, db, event):
        d = event.data
        db.execute("INSERT INTO expenses VALUES (?, ?, ?, ?, ?, NULL)",
                   (d["expense_id"], d["project_id"], d["employee_id"], d["amount"], d["note"]))

    def on_ExpenseApproved(self, db, event):
        db.execute("UPDATE expenses SET approved_by = ? WHERE expense_id = ?",
                   (event.data["approver_id"], event.data["expense_id"]))


def manager_of(db, project_id):
    """The project's manager; None: a project not known here (yet)."""
    row = db.execute("SELECT manager_id FROM expense_projects WHERE project_id = ?", (project_id,)).fetchone()
    return row and row[0]


def expenses_of(db, project_id):
    return [dict(row) for row in db.execute(
        "SELECT * FROM expenses WHERE project_id = ? ORDER BY rowid", (project_id,))]
