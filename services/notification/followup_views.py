"""The follow-up read model (issue 17) and its queries: which submitted weeks still wait for which managers, the
projects each employee logs on and is a member of (to find an employee's managers), and the chases made.

An employee's managers (this service knows no line manager: the resource service has none) are the managers of
the projects the employee logged hours on in the weeks concerned; else of the projects they are a member of; else
of the projects they logged on most recently. Never the employee themself."""
from __future__ import annotations

import json
from datetime import date, timedelta

from shared.projections import Projection
from shared.validation import hours

from .followup import approval_overdue, previous_week
from .projections import registered_on, run_script
from .views import reminder_candidates


class FollowUpFacts(Projection):
    name = "followup"
    version = 1
    tables = ("followup_pending", "followup_chased", "followup_entries", "followup_members", "followup_phases",
              "followup_crossings", "followup_crossing_events", "followup_checks", "followup_overdue")

    def setup(self, db):
        run_script(db, """
            CREATE TABLE IF NOT EXISTS followup_pending (employee_id TEXT, week TEXT, project_id TEXT,
                manager_id TEXT, submission_id TEXT, submitted_on TEXT, PRIMARY KEY (employee_id, week, project_id));
            CREATE INDEX IF NOT EXISTS followup_pending_by_day ON followup_pending (submitted_on);
            CREATE TABLE IF NOT EXISTS followup_chased (submission_id TEXT, manager_id TEXT,
                PRIMARY KEY (submission_id, manager_id));
            CREATE TABLE IF NOT EXISTS followup_entries (employee_id TEXT, week TEXT, entry_id TEXT, project_id TEXT,
                PRIMARY KEY (employee_id, week, entry_id));
            CREATE TABLE IF NOT EXISTS followup_members (project_id TEXT, employee_id TEXT,
                PRIMARY KEY (project_id, employee_id));
            CREATE TABLE IF NOT EXISTS followup_phases (project_id TEXT, phase_id TEXT, name TEXT,
                PRIMARY KEY (project_id, phase_id));
            CREATE TABLE IF NOT EXISTS followup_crossings (project_id TEXT, phase_id TEXT, budget TEXT, state TEXT,
                PRIMARY KEY (project_id, phase_id, budget));
            CREATE TABLE IF NOT EXISTS followup_crossing_events (event_id TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS followup_checks (week TEXT PRIMARY KEY, data TEXT);
            CREATE TABLE IF NOT EXISTS followup_overdue (event_id TEXT PRIMARY KEY, week TEXT, data TEXT,
                position INTEGER);
            CREATE INDEX IF NOT EXISTS followup_overdue_by_week ON followup_overdue (week, position);
        """)

    # timesheet: the project lines of a submitted week wait until approved; a rejection or reopening ends the wait
    def on_TimesheetSubmitted(self, db, event):
        d = event.data
        db.execute("DELETE FROM followup_pending WHERE employee_id = ? AND week = ?", (d["employee_id"], d["week"]))
        for line in d.get("projects") or []:
            db.execute("INSERT OR REPLACE INTO followup_pending VALUES (?, ?, ?, ?, ?, ?)",
                       (d["employee_id"], d["week"], line["project_id"], line.get("manager_id"), event.id,
                        registered_on(event)))

    def on_TimesheetApproved(self, db, event):
        d = event.data
        for project_id in d.get("project_ids") or []:
            db.execute("DELETE FROM followup_pending WHERE employee_id = ? AND week = ? AND project_id = ?",
                       (d["employee_id"], d["week"], project_id))

    def on_TimesheetRejected(self, db, event):
        db.execute("DELETE FROM followup_pending WHERE employee_id = ? AND week = ?",
                   (event.data["employee_id"], event.data["week"]))

    on_TimesheetReopened = on_TimesheetRejected

    def on_TimeLogged(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO followup_entries VALUES (?, ?, ?, ?)",
                   (d["employee_id"], d["week"], d["entry_id"], d["project_id"]))

    on_TimeEntryAmended = on_TimeLogged

    def on_TimeEntryDeleted(self, db, event):
        d = event.data
        db.execute("DELETE FROM followup_entries WHERE employee_id = ? AND week = ? AND entry_id = ?",
                   (d["employee_id"], d["week"], d["entry_id"]))

    # project
    def on_MemberAssigned(self, db, event):
        db.execute("INSERT OR REPLACE INTO followup_members VALUES (?, ?)",
                   (event.data["project_id"], event.data["employee_id"]))

    def on_MemberRemoved(self, db, event):
        db.execute("DELETE FROM followup_members WHERE project_id = ? AND employee_id = ?",
                   (event.data["project_id"], event.data["employee_id"]))

    def on_PhaseAdded(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO followup_phases VALUES (?, ?, ?)", (d["project_id"], d["phase_id"], d["name"]))

    def on_PhaseUpdated(self, db, event):
        d = event.data
        if "name" in (d.get("changes") or {}):
            db.execute("UPDATE followup_phases SET name = ? WHERE project_id = ? AND phase_id = ?",
                       (d["changes"]["name"], d["project_id"], d["phase_id"]))

    # A crossing is the first ForecastOverBudget after none or a ForecastBackWithinBudget (and the way back the
    # first ForecastBackWithinBudget after it): the events that cross are kept, so that a repeated one is told
    # to nobody, whatever the read model has seen since.
    def on_ForecastOverBudget(self, db, event):
        self._cross(db, event, "over")

    def on_ForecastBackWithinBudget(self, db, event):
        self._cross(db, event, "within")

    @staticmethod
    def _cross(db, event, state):
        d = event.data
        key = (d["project_id"], d.get("phase_id") or "", d["budget"])
        row = db.execute("SELECT state FROM followup_crossings WHERE project_id = ? AND phase_id = ? AND budget = ?",
                         key).fetchone()
        before = row[0] if row else "within"
        if before != state:
            db.execute("INSERT OR REPLACE INTO followup_crossings VALUES (?, ?, ?, ?)", (*key, state))
            db.execute("INSERT OR IGNORE INTO followup_crossing_events VALUES (?)", (event.id,))

    # own
    def on_ApprovalsOverdue(self, db, event):
        for m in event.data["managers"]:
            db.execute("INSERT OR IGNORE INTO followup_chased VALUES (?, ?)",
                       (event.data["submission_id"], m["manager_id"]))
        db.execute("INSERT OR IGNORE INTO followup_overdue VALUES (?, ?, ?, ?)",
                   (event.id, event.data["week"], json.dumps(event.data), event.position))

    def on_HoursMissedInARow(self, db, event):
        db.execute("INSERT OR REPLACE INTO followup_checks VALUES (?, ?)", (event.data["week"], json.dumps(event.data)))


# -- queries ----------------------------------------------------------------------------------------
def overdue_approvals(db, today: date, max_age_days: int = 28) -> list[dict]:
    """Submissions waiting more than the allowed working days by ``today``, each with the managers not chased
    yet for it: [{employee_id, week, submission_id, submitted_on, waiting: [{manager_id, project_ids}]}]. A line's
    manager is the project's manager now (a handover since the submission moves the chase), else the one the
    submission named. Submissions more than ``max_age_days`` old are left alone: the first start over a long history
    does not chase every week ever left waiting."""
    latest = (today - timedelta(days=4)).isoformat()  # more than 3 working days is at least 4 calendar days
    earliest = (today - timedelta(days=max_age_days)).isoformat()
    found: dict[str, dict] = {}
    for r in db.execute(
            "SELECT p.*, COALESCE(j.manager_id, p.manager_id) AS manager FROM followup_pending p"
            " LEFT JOIN projects j ON j.project_id = p.project_id WHERE p.submitted_on <= ? AND p.submitted_on >= ?"
            " AND NOT EXISTS (SELECT 1 FROM followup_chased c WHERE c.submission_id = p.submission_id"
            " AND c.manager_id = COALESCE(j.manager_id, p.manager_id))"
            " ORDER BY p.submitted_on, p.employee_id, p.week, p.project_id", (latest, earliest)):
        if not r["manager"] or not approval_overdue(date.fromisoformat(r["submitted_on"]), today):
            continue
        entry = found.setdefault(r["submission_id"], {
            "employee_id": r["employee_id"], "week": r["week"], "submission_id": r["submission_id"],
            "submitted_on": r["submitted_on"], "waiting": {}})
        entry["waiting"].setdefault(r["manager"], []).append(r["project_id"])
    return [{**e, "waiting": [{"manager_id": m, "project_ids": p} for m, p in sorted(e["waiting"].items())]}
            for e in found.values()]


def managers_of_employee(db, employee_id, weeks: list[str]) -> list[str]:
    """The employee's managers for ``weeks`` (see the module's docstring), sorted."""
    marks = ",".join("?" * len(weeks))
    queries = [
        (f"SELECT DISTINCT project_id FROM followup_entries WHERE employee_id = ? AND week IN ({marks})",
         (employee_id, *weeks)),
        ("SELECT project_id FROM followup_members WHERE employee_id = ?", (employee_id,)),
        ("SELECT DISTINCT project_id FROM followup_entries WHERE employee_id = ? AND week ="
         " (SELECT MAX(week) FROM followup_entries WHERE employee_id = ?)", (employee_id, employee_id)),
    ]
    for sql, params in queries:
        projects = [r[0] for r in db.execute(sql, params)]
        managers = {r[0] for p in projects for r in db.execute(
            "SELECT manager_id FROM projects WHERE project_id = ?", (p,)) if r[0] and r[0] != employee_id}
        if managers:
            return sorted(managers)
    return []


def missed_two_weeks(db, week: str) -> list[dict]:
    """Who missed their hours (the reminders' rule: below capacity minus absences and not submitted) in ``week``
    and the week before: [{employee_id, weeks: [{week, logged_hours, expected_hours}], manager_ids}]."""
    before = previous_week(week)
    earlier = {c["resource_id"]: c for c in reminder_candidates(db, before)}
    out = []
    for c in reminder_candidates(db, week):
        first = earlier.get(c["resource_id"])
        if first is None:
            continue
        out.append({"employee_id": c["resource_id"], "weeks": [
            {"week": w, "logged_hours": hours(x["logged_centi"]), "expected_hours": hours(x["expected_centi"])}
            for w, x in ((before, first), (week, c))],
            "manager_ids": managers_of_employee(db, c["resource_id"], [before, week])})
    return out


def phase_name(db, project_id, phase_id) -> str | None:
    row = db.execute("SELECT name FROM followup_phases WHERE project_id = ? AND phase_id = ?",
                     (project_id, phase_id)).fetchone()
    return row[0] if row else None


def crossed(db, event_id) -> bool:
    """Whether this forecast event crossed its budget (over, or back within): a repeat of the state did not."""
    return db.execute("SELECT 1 FROM followup_crossing_events WHERE event_id = ?", (event_id,)).fetchone() is not None


def followup_checks(db, week: str) -> dict:
    """What follow-up recorded for ``week``: its missed-hours check (None: not checked) and the approvals of the week
    chased, in the order recorded."""
    row = db.execute("SELECT data FROM followup_checks WHERE week = ?", (week,)).fetchone()
    missed = json.loads(row[0]) if row else None
    if missed is not None:
        del missed["week"]
    return {"week": week, "missed_hours": missed, "approvals_overdue": [
        {k: v for k, v in json.loads(r[0]).items() if k != "week"} for r in db.execute(
            "SELECT data FROM followup_overdue WHERE week = ? ORDER BY position", (week,))]}
