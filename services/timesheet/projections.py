"""Read models of the timesheet service.

``ProjectFactsView`` keeps what we know of projects from the project service's events (recorded in
our own store first). ``TimesheetsView`` keeps entries (with their approval status, as the domain derives it),
week phases and project lines for lookups, approvals, reports and exports. Both can be dropped and rebuilt from
the store at any time. The queries over them are in ``views.py``.
"""
from __future__ import annotations

from shared.projections import Projection
from shared.validation import week_days

from . import exports
from .domain import ProjectFacts, TaskFacts, centi, entry_status

# An entry's own events: ``TimesheetsView._entry`` logs the entry's export line, built from the values it writes.
ENTRY_EVENTS = frozenset({"TimeLogged", "TimeEntryAmended", "TimeEntryCorrected"})
PROJECT_COLUMNS = ("name", "code", "manager_id", "starts_on", "ends_on", "billable", "status")


class ProjectFactsView(Projection):
    name = "timesheet_projects"
    version = 3  # 3: TaskReopened opens a task again
    tables = ("ts_projects", "ts_members", "ts_tasks", "ts_delegations")

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS ts_projects (project_id TEXT PRIMARY KEY, code TEXT, name TEXT,"
            " manager_id TEXT, status TEXT, starts_on TEXT, ends_on TEXT, billable INTEGER)"
        )
        db.execute("CREATE TABLE IF NOT EXISTS ts_members (project_id TEXT, employee_id TEXT,"
                   " PRIMARY KEY (project_id, employee_id))")
        db.execute("CREATE TABLE IF NOT EXISTS ts_tasks (project_id TEXT, task_id TEXT, name TEXT,"
                   " billable INTEGER, open INTEGER, PRIMARY KEY (project_id, task_id))")
        db.execute("CREATE TABLE IF NOT EXISTS ts_delegations (project_id TEXT, manager_id TEXT, delegate_id TEXT,"
                   " from_date TEXT, to_date TEXT)")
        db.execute("CREATE INDEX IF NOT EXISTS ts_delegations_delegate ON ts_delegations (delegate_id, project_id)")

    def on_ProjectCreated(self, db, event):
        d = event.data
        db.execute(
            "INSERT OR REPLACE INTO ts_projects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (d["project_id"], d.get("code"), d.get("name"), d.get("manager_id"), d.get("status") or "active",
             d.get("starts_on"), d.get("ends_on"), _bool(d.get("billable"), True)),
        )

    def on_ProjectUpdated(self, db, event):
        changes = event.data.get("changes") or {}
        for column in PROJECT_COLUMNS:
            if column in changes:
                value = changes[column]
                if column == "billable":
                    value = _bool(value, True)
                db.execute(f"UPDATE ts_projects SET {column} = ? WHERE project_id = ?",
                           (value, event.data["project_id"]))

    def on_ProjectStatusChanged(self, db, event):
        db.execute("UPDATE ts_projects SET status = ? WHERE project_id = ?",
                   (event.data["to_status"], event.data["project_id"]))

    def on_MemberAssigned(self, db, event):
        d = event.data
        db.execute("INSERT OR IGNORE INTO ts_members VALUES (?, ?)", (d["project_id"], d["employee_id"]))
        if d.get("project_code"):
            db.execute("UPDATE ts_projects SET code = COALESCE(code, ?) WHERE project_id = ?",
                       (d["project_code"], d["project_id"]))

    def on_MemberRemoved(self, db, event):
        db.execute("DELETE FROM ts_members WHERE project_id = ? AND employee_id = ?",
                   (event.data["project_id"], event.data["employee_id"]))

    def on_TaskAdded(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO ts_tasks VALUES (?, ?, ?, ?, 1)",
                   (d["project_id"], d["task_id"], d.get("name"), _bool(d.get("billable"), None)))

    def on_TaskClosed(self, db, event):
        db.execute("UPDATE ts_tasks SET open = 0 WHERE project_id = ? AND task_id = ?",
                   (event.data["project_id"], event.data["task_id"]))

    def on_TaskReopened(self, db, event):  # a reopened task takes hours again
        db.execute("UPDATE ts_tasks SET open = 1 WHERE project_id = ? AND task_id = ?",
                   (event.data["project_id"], event.data["task_id"]))


    def on_ApprovalsDelegated(self, db, event):
        d = event.data
        db.execute("INSERT INTO ts_delegations VALUES (?, ?, ?, ?, ?)",
                   (d["project_id"], d["manager_id"], d["delegate_id"], d["from_date"], d["to_date"]))


def _bool(value, default):
    if value is None:
        return None if default is None else int(default)
    return int(bool(value))


def project_facts(db, project_id) -> ProjectFacts | None:
    row = db.execute("SELECT * FROM ts_projects WHERE project_id = ?", (project_id,)).fetchone()
    if row is None:
        return None
    members = {r[0] for r in db.execute("SELECT employee_id FROM ts_members WHERE project_id = ?", (project_id,))}
    tasks = {
        r["task_id"]: TaskFacts(r["task_id"], r["name"] or "", None if r["billable"] is None else bool(r["billable"]),
                                bool(r["open"]))
        for r in db.execute("SELECT * FROM ts_tasks WHERE project_id = ?", (project_id,))
    }
    return ProjectFacts(
        project_id=row["project_id"], code=row["code"] or "", name=row["name"] or "", status=row["status"],
        manager_id=row["manager_id"], starts_on=row["starts_on"], ends_on=row["ends_on"],
        billable=bool(row["billable"]) if row["billable"] is not None else True, members=members, tasks=tasks,
    )


def authority(db, person, project_ids, week) -> dict:
    """The projects among ``project_ids`` whose lines of ``week`` ``person`` may approve, and on whose behalf:
    project_id -> None where they are its manager, -> the manager's id where they are that manager's delegate for
    a range with a day in the week (a delegation lapses when the project gets another manager)."""
    ids = list(project_ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    monday, sunday = week_days(week)[0], week_days(week)[-1]
    delegated = db.execute(
        f"SELECT d.project_id, d.manager_id FROM ts_delegations d JOIN ts_projects p ON p.project_id = d.project_id"
        f" AND p.manager_id = d.manager_id WHERE d.delegate_id = ? AND d.project_id IN ({marks})"
        f" AND d.from_date <= ? AND d.to_date >= ?", (person, *ids, sunday, monday))
    own = db.execute(f"SELECT project_id FROM ts_projects WHERE manager_id = ? AND project_id IN ({marks})",
                     (person, *ids))
    return {**{r[0]: r[1] for r in delegated}, **{r[0]: None for r in own}}


def entry_row(d) -> tuple:
    """``ts_entries``' columns up to the description, from an entry event's data."""
    return (d["entry_id"], d["employee_id"], d["week"], d["project_id"], d.get("task_id"), d["date"],
            centi(d["hours"]), int(bool(d["billable"])), d.get("description") or "")


class TimesheetsView(Projection):
    name = "timesheet_weeks"
    version = 5  # 3: ts_entries.status, derived by the domain (domain.entry_status), not recomputed in SQL
    # 4: invoice refs and the log of export lines (exports.py: delta exports)
    # 5: ts_entries.logged_position/logged_idx, the entry's line last logged (the log has no index by entry)
    tables = ("ts_entries", "ts_weeks", "ts_lines", *exports.TABLES)

    def apply(self, db, event):
        """Each event's handler, then the export lines of its week that it changed (``exports.track``). An entry's
        own event logs the line built from the values it writes (``_entry``): nothing is read back."""
        d = event.data
        super().apply(db, event)
        if event.type in ENTRY_EVENTS or not (d.get("employee_id") and d.get("week")):
            return
        if d.get("entry_id"):  # deleted: that entry's line only
            changed = [d["entry_id"]]
        elif d.get("entry_ids") is not None:  # invoiced: those entries
            changed = d["entry_ids"]
        else:  # a step of the week's approval: every entry of the week
            changed = exports.week_entry_ids(db, d["employee_id"], d["week"])
        exports.track(db, event.position, changed)

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS ts_entries (entry_id TEXT PRIMARY KEY, employee_id TEXT, week TEXT,"
            " project_id TEXT, task_id TEXT, date TEXT, hours INTEGER, billable INTEGER, description TEXT,"
            " deleted INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'open', logged_position INTEGER,"
            " logged_idx INTEGER)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS ts_entries_project ON ts_entries (project_id, date)")
        db.execute("CREATE INDEX IF NOT EXISTS ts_entries_date ON ts_entries (date)")
        db.execute("CREATE INDEX IF NOT EXISTS ts_entries_week ON ts_entries (employee_id, week)")
        db.execute("CREATE TABLE IF NOT EXISTS ts_weeks (employee_id TEXT, week TEXT, phase TEXT,"
                   " PRIMARY KEY (employee_id, week))")
        db.execute(
            "CREATE TABLE IF NOT EXISTS ts_lines (employee_id TEXT, week TEXT, project_id TEXT, status TEXT,"
            " approved_by TEXT, approved_at TEXT, PRIMARY KEY (employee_id, week, project_id))"
        )
        exports.setup(db)

    def _entry(self, db, event):
        """Store the entry with its status (as the domain derives it from the week's phase and the entry's line).
        One read of what the entry's week, line, invoice and last logged line hold, then the writes. Its export line
        is logged at the event's position if it changed, built from the values written; ``ts_entries`` points at
        the entry's last logged line (the ``before`` of its next change)."""
        d = event.data
        if event.type == "TimeEntryCorrected":  # a correction takes the entry off its invoice
            db.execute("DELETE FROM ts_invoices WHERE entry_id = ?", (d["entry_id"],))
        found = db.execute(
            "SELECT w.phase, l.status, l.approved_by, l.approved_at,"
            " (SELECT invoice_ref FROM ts_invoices WHERE entry_id = ?1), e.logged_position, e.logged_idx,"
            " (SELECT after FROM ts_export_log x WHERE x.position = e.logged_position AND x.idx = e.logged_idx)"
            " FROM (SELECT 1) LEFT JOIN ts_weeks w ON w.employee_id = ?2 AND w.week = ?3"
            " LEFT JOIN ts_lines l ON l.employee_id = ?2 AND l.week = ?3 AND l.project_id = ?4"
            " LEFT JOIN ts_entries e ON e.entry_id = ?1",
            (d["entry_id"], d["employee_id"], d["week"], d["project_id"])).fetchone()
        phase, line_status, approved_by, approved_at, invoice_ref, logged_position, logged_idx, before = found
        if phase is None:  # the week's first entry
            phase = "open"
            db.execute("INSERT INTO ts_weeks VALUES (?, ?, ?)", (d["employee_id"], d["week"], phase))
        status = entry_status(phase, line_status)
        row = entry_row(d)
        after = exports.as_logged(exports.entry_line(row, status, approved_by, approved_at, invoice_ref))
        if exports.log_change(db, event.position, 0, d["entry_id"], before, after):
            logged_position, logged_idx = event.position, 0
        db.execute("INSERT OR REPLACE INTO ts_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                   (*row, status, logged_position, logged_idx))

    def _statuses(self, db, d):
        """Store each entry's status of the week as the domain derives it from the week's phase and its line."""
        rows = db.execute(
            "SELECT e.entry_id, w.phase, l.status FROM ts_entries e"
            " JOIN ts_weeks w ON w.employee_id = e.employee_id AND w.week = e.week"
            " LEFT JOIN ts_lines l ON l.employee_id = e.employee_id AND l.week = e.week"
            "  AND l.project_id = e.project_id"
            " WHERE e.employee_id = ? AND e.week = ?", (d["employee_id"], d["week"])).fetchall()
        for entry_id, phase, line_status in rows:
            db.execute("UPDATE ts_entries SET status = ? WHERE entry_id = ?",
                       (entry_status(phase, line_status), entry_id))

    # An entry's own events (``ENTRY_EVENTS``): they log their line themselves, ``apply`` tracks nothing more.
    def on_TimeLogged(self, db, event):
        self._entry(db, event)

    def on_TimeEntryAmended(self, db, event):
        self._entry(db, event)

    def on_TimeEntryCorrected(self, db, event):
        self._entry(db, event)

    def on_TimeEntriesInvoiced(self, db, event):
        for entry_id in event.data["entry_ids"]:
            db.execute("INSERT OR REPLACE INTO ts_invoices VALUES (?, ?)", (entry_id, event.data["invoice_ref"]))

    def on_TimeEntryDeleted(self, db, event):
        # Kept (flagged) so a retried delete finds its week; only if the entry is still in that week,
        # since a moved entry may already live in the new one.
        db.execute("UPDATE ts_entries SET deleted = 1 WHERE entry_id = ? AND week = ?",
                   (event.data["entry_id"], event.data["week"]))

    def _phase(self, db, d, phase):
        db.execute("INSERT INTO ts_weeks VALUES (?, ?, ?) ON CONFLICT (employee_id, week) DO UPDATE"
                   " SET phase = excluded.phase", (d["employee_id"], d["week"], phase))

    def on_TimesheetSubmitted(self, db, event):
        d = event.data
        self._phase(db, d, "submitted")
        db.execute("DELETE FROM ts_lines WHERE employee_id = ? AND week = ?", (d["employee_id"], d["week"]))
        for p in d["projects"]:
            db.execute("INSERT INTO ts_lines VALUES (?, ?, ?, 'pending', NULL, NULL)",
                       (d["employee_id"], d["week"], p["project_id"]))
        self._statuses(db, d)

    def on_TimesheetApproved(self, db, event):
        d = event.data
        at = d.get("approved_at") or event.recorded_at.isoformat()
        for pid in d["project_ids"]:
            db.execute("UPDATE ts_lines SET status = 'approved', approved_by = ?, approved_at = ?"
                       " WHERE employee_id = ? AND week = ? AND project_id = ?",
                       (d["approver_id"], at, d["employee_id"], d["week"], pid))
        self._statuses(db, d)

    def on_TimesheetRejected(self, db, event):
        d = event.data
        self._phase(db, d, "rejected")
        for pid in d["project_ids"]:
            db.execute("UPDATE ts_lines SET status = 'rejected', approved_by = NULL, approved_at = NULL"
                       " WHERE employee_id = ? AND week = ? AND project_id = ?",
                       (d["employee_id"], d["week"], pid))
        self._statuses(db, d)

    def on_TimesheetReopened(self, db, event):
        d = event.data
        self._phase(db, d, "open")
        db.execute("DELETE FROM ts_lines WHERE employee_id = ? AND week = ?", (d["employee_id"], d["week"]))
        self._statuses(db, d)
