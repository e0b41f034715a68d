"""Read models of the project service: project summaries, known resources and time entries.

Time entries are kept by (entry_id, week): an entry moved to another week arrives as a Deleted in
the old week's stream and a Logged in the new one's, and the two streams may be recorded in either
order; keyed by week, both orders give the same rows.
"""
from __future__ import annotations

from decimal import Decimal

from shared.projections import Projection
from shared.validation import hours


def centi(value) -> int:
    return int((Decimal(str(value or 0)) * 100).to_integral_value())


class ProjectsView(Projection):
    name = "projects"
    version = 2  # 2: the plan's events move a project's version too
    tables = ("projects", "project_members")

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, code TEXT, name TEXT, customer TEXT,"
            " manager_id TEXT, status TEXT, billable INTEGER, starts_on TEXT, ends_on TEXT, budget_centi INTEGER,"
            " budget_amount TEXT, currency TEXT, hourly_rate TEXT, version INTEGER)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS project_members (project_id TEXT, employee_id TEXT, role TEXT,"
            " hourly_rate TEXT, PRIMARY KEY (project_id, employee_id))"
        )

    def _version(self, db, event):
        db.execute("UPDATE projects SET version = ? WHERE id = ?", (event.version, event.data["project_id"]))

    def on_ProjectCreated(self, db, event):
        d = event.data
        db.execute(
            "INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)",
            (d["project_id"], d["code"], d["name"], d["customer"], d["manager_id"], int(d["billable"]),
             d["starts_on"], d["ends_on"], None if d["budget_hours"] is None else centi(d["budget_hours"]),
             d["budget_amount"], d["currency"], d["hourly_rate"], event.version),
        )

    def on_ProjectUpdated(self, db, event):
        for field, value in event.data["changes"].items():
            column = {"budget_hours": "budget_centi"}.get(field, field)
            if field == "budget_hours" and value is not None:
                value = centi(value)
            if field == "billable":
                value = int(value)
            db.execute(f"UPDATE projects SET {column} = ? WHERE id = ?", (value, event.data["project_id"]))
        self._version(db, event)

    def on_ProjectStatusChanged(self, db, event):
        db.execute("UPDATE projects SET status = ? WHERE id = ?", (event.data["to_status"], event.data["project_id"]))
        self._version(db, event)

    def on_MemberAssigned(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO project_members VALUES (?, ?, ?, ?)",
                   (d["project_id"], d["employee_id"], d["role"], d["hourly_rate"]))
        self._version(db, event)

    def on_MemberRemoved(self, db, event):
        db.execute("DELETE FROM project_members WHERE project_id = ? AND employee_id = ?",
                   (event.data["project_id"], event.data["employee_id"]))
        self._version(db, event)

    def on_TaskAdded(self, db, event):
        self._version(db, event)

    on_TaskClosed = on_BudgetThresholdReached = on_BudgetThresholdCleared = on_TaskAdded
    # the plan's events (planning.py) move the project's version too
    on_TaskUpdated = on_TaskReopened = on_PhaseAdded = on_PhaseUpdated = on_TaskAdded
    on_MilestoneAdded = on_MilestoneUpdated = on_MilestoneCompleted = on_MilestoneReopened = on_TaskAdded
    on_MilestoneDueSoon = on_MilestoneMissed = on_StatusReportRecorded = on_TaskAdded


def project_summaries(db, *, visible_to=None, status=None, customer=None, manager_id=None, member_id=None):
    """Project summaries by code. ``visible_to``: only the projects that person manages or is a member of (the rule
    of ``access.readable``); None: every project. The other arguments filter when given."""
    member = "EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.employee_id = ?)"
    sql, params = "SELECT * FROM projects p WHERE 1 = 1", []
    if visible_to is not None:
        sql += f" AND (p.manager_id = ? OR {member})"
        params += [visible_to, visible_to]
    for column, value in (("status", status), ("customer", customer), ("manager_id", manager_id)):
        if value is not None:
            sql += f" AND p.{column} = ?"
            params.append(value)
    if member_id is not None:
        sql += f" AND {member}"
        params.append(member_id)
    return [_summary(row) for row in db.execute(sql + " ORDER BY p.code", params)]


def _summary(row) -> dict:
    return {
        "id": row["id"], "code": row["code"], "name": row["name"], "customer": row["customer"],
        "manager_id": row["manager_id"], "status": row["status"], "billable": bool(row["billable"]),
        "starts_on": row["starts_on"], "ends_on": row["ends_on"], "budget_hours": hours(row["budget_centi"]),
        "budget_amount": row["budget_amount"], "currency": row["currency"], "hourly_rate": row["hourly_rate"],
        "version": row["version"],
    }


class ResourcesView(Projection):
    """Resources known from the resource service's events, and whether they are active: a resource is active from
    its registration until its ResourceDeactivated (a ResourceUpdated never changes it)."""

    name = "resources"
    version = 2  # 2: no longer reads an "active" change that the resource service never records
    tables = ("resources",)

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS resources (resource_id TEXT PRIMARY KEY, name TEXT, active INTEGER)")

    def on_ResourceRegistered(self, db, event):
        db.execute("INSERT OR REPLACE INTO resources VALUES (?, ?, 1)",
                   (event.data["resource_id"], event.data.get("name")))

    def on_ResourceUpdated(self, db, event):
        changes = event.data.get("changes") or {}
        if "name" in changes:
            db.execute("UPDATE resources SET name = ? WHERE resource_id = ?", (changes["name"], event.data["resource_id"]))

    def on_ResourceDeactivated(self, db, event):
        db.execute("UPDATE resources SET active = 0 WHERE resource_id = ?", (event.data["resource_id"],))


def resource_state(db, resource_id):
    """None when unknown, else True (active) or False."""
    row = db.execute("SELECT active FROM resources WHERE resource_id = ?", (resource_id,)).fetchone()
    return None if row is None else bool(row[0])


class TimeEntriesView(Projection):
    """Hours logged on projects, from the timesheet service's events. Whether an entry is approved is the
    timesheet's answer (its ``domain.entry_status``), read from its events, not worked out again here: an
    approval names the lines it approved, a rejection the lines whose approval it took away."""

    name = "time_entries"
    version = 4  # 4: the hours ledger, for figures as of an event
    tables = ("time_entries", "hours_ledger")

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS time_entries (entry_id TEXT, week TEXT, employee_id TEXT, project_id TEXT,"
            " task_id TEXT, date TEXT, centi INTEGER, billable INTEGER, approved INTEGER,"
            " PRIMARY KEY (entry_id, week))"
        )
        db.execute("CREATE INDEX IF NOT EXISTS time_entries_by_project ON time_entries (project_id)")
        # Every change of an entry's hours, at the position of the event that made it: the figures as of any
        # event, which the budget watch needs because the read models may already show later events.
        db.execute(
            "CREATE TABLE IF NOT EXISTS hours_ledger (position INTEGER, project_id TEXT, entry_id TEXT, week TEXT,"
            " centi INTEGER, present INTEGER)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS hours_ledger_by_project ON hours_ledger (project_id, position)")
        db.execute("CREATE INDEX IF NOT EXISTS hours_ledger_by_entry ON hours_ledger (entry_id, week, position)")

    def _ledger(self, db, event, d, new):
        """Records the change of the entry (d's entry_id, week) from its current row to ``new``: (project_id,
        centi), or None when it is deleted."""
        old = db.execute("SELECT project_id, centi FROM time_entries WHERE entry_id = ? AND week = ?",
                         (d["entry_id"], d["week"])).fetchone()
        changes: dict[str, int] = {}
        if old is not None:
            changes[old[0]] = -old[1]
        if new is not None:
            changes[new[0]] = changes.get(new[0], 0) + new[1]
        for project_id, delta in changes.items():
            db.execute("INSERT INTO hours_ledger VALUES (?, ?, ?, ?, ?, ?)",
                       (event.position, project_id, d["entry_id"], d["week"], delta, int(new is not None)))

    def _put(self, db, event):
        d = event.data
        self._ledger(db, event, d, (d["project_id"], centi(d["hours"])))
        # Hours change only in an open or rejected week, where no entry is approved.
        db.execute(
            "INSERT OR REPLACE INTO time_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (d["entry_id"], d["week"], d["employee_id"], d["project_id"], d.get("task_id"), d.get("date"),
             centi(d["hours"]), int(bool(d.get("billable", True)))),
        )

    def on_TimeLogged(self, db, event):
        self._put(db, event)

    def on_TimeEntryAmended(self, db, event):
        self._put(db, event)

    def on_TimeEntryDeleted(self, db, event):
        self._ledger(db, event, event.data, None)
        db.execute("DELETE FROM time_entries WHERE entry_id = ? AND week = ?",
                   (event.data["entry_id"], event.data["week"]))

    def _approve(self, db, d, approved, project_ids=None):
        """Sets ``approved`` on the week's entries of ``project_ids`` (None: of every project)."""
        sql = "UPDATE time_entries SET approved = ? WHERE employee_id = ? AND week = ?"
        args = [approved, d["employee_id"], d["week"]]
        if project_ids is not None:
            sql += f" AND project_id IN ({','.join('?' * len(project_ids))})"
            args += list(project_ids)
        db.execute(sql, args)

    def on_TimesheetSubmitted(self, db, event):
        self._approve(db, event.data, 0)  # submitted: every line pending

    def on_TimesheetApproved(self, db, event):
        self._approve(db, event.data, 1, event.data["project_ids"])

    def on_TimesheetRejected(self, db, event):
        # Absent from rejections recorded before the field: those took every approval of the week too.
        self._approve(db, event.data, 0, event.data.get("revoked_project_ids"))

    def on_TimesheetReopened(self, db, event):
        self._approve(db, event.data, 0)  # open: nothing approved


def used_centi(db, project_id, as_of=None) -> int:
    """Centi-hours logged on the project: now, or as of the event at position ``as_of``."""
    if as_of is None:
        row = db.execute("SELECT COALESCE(SUM(centi), 0) FROM time_entries WHERE project_id = ?", (project_id,))
    else:
        row = db.execute("SELECT COALESCE(SUM(centi), 0) FROM hours_ledger WHERE project_id = ? AND position <= ?",
                         (project_id, as_of))
    return row.fetchone()[0]


def entry_in_week(db, entry_id, week, as_of=None) -> bool:
    """Whether the entry is logged in that week: now, or as of the event at position ``as_of``."""
    if as_of is None:
        return db.execute("SELECT 1 FROM time_entries WHERE entry_id = ? AND week = ?",
                          (entry_id, week)).fetchone() is not None
    row = db.execute("SELECT present FROM hours_ledger WHERE entry_id = ? AND week = ? AND position <= ?"
                     " ORDER BY position DESC LIMIT 1", (entry_id, week, as_of)).fetchone()
    return bool(row and row[0])


def entries_by_employee(db, project_id):
    """[(employee_id, logged, approved, billable)] in centi-hours."""
    return [tuple(r) for r in db.execute(
        "SELECT employee_id, SUM(centi), SUM(CASE WHEN approved THEN centi ELSE 0 END),"
        " SUM(CASE WHEN billable THEN centi ELSE 0 END) FROM time_entries WHERE project_id = ? GROUP BY employee_id",
        (project_id,),
    )]
