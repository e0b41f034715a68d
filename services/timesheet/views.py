"""The timesheet service's queries and reports: each a function of the read models (``db``, the tables of
``projections.py``) or of a week's events, with no nameko or kit in sight. The service reads them through
``ChronicleHandle.query``; an entry's status is the one the projection stored (``domain.entry_status``).
"""
from __future__ import annotations

from shared.validation import hours, week_days

from . import exports
from .domain import ENTRY_FIELDS, Timesheet
from .projections import authority


# -- lookups ----------------------------------------------------------------------------------------
def entry_location(db, entry_id, employee_id=None) -> dict | None:
    """Where an entry lives now (or last lived, if deleted): {employee_id, week, project_id}."""
    sql = "SELECT employee_id, week, project_id FROM ts_entries WHERE entry_id = ?"
    params = [entry_id]
    if employee_id is not None:
        sql += " AND employee_id = ?"
        params.append(employee_id)
    row = db.execute(sql, params).fetchone()
    return dict(row) if row is not None else None


def is_known_member(db, employee_id) -> bool:
    """A member of some project we know."""
    return db.execute("SELECT 1 FROM ts_members WHERE employee_id = ? LIMIT 1", (employee_id,)).fetchone() is not None


def manages_project(db, person, project_id) -> bool:
    return db.execute("SELECT 1 FROM ts_projects WHERE project_id = ? AND manager_id = ?",
                      (project_id, person)).fetchone() is not None


def managers(db, project_ids) -> dict:
    """project_id -> its manager as we know it (None for a project we do not know)."""
    ids = list(project_ids)
    known = {}
    if ids:
        known = dict(db.execute(f"SELECT project_id, manager_id FROM ts_projects WHERE project_id IN"
                                f" ({','.join('?' * len(ids))})", ids).fetchall())
    return {pid: known.get(pid) for pid in ids}


def project_codes(db, project_ids) -> dict:
    """The codes of these projects (a week's: never a scan of every project known)."""
    ids = list(project_ids)
    return {r[0]: r[1] for r in db.execute(
        f"SELECT project_id, code FROM ts_projects WHERE project_id IN ({','.join('?' * len(ids))})", ids)}


# -- a week ---------------------------------------------------------------------------------------
def week(ts: Timesheet, locked_through, codes: dict) -> dict:
    """A week as ``get_timesheet`` shows it: entries, totals per day and per project line."""
    daily = {day: 0 for day in week_days(ts.week)}
    for entry in ts.entries.values():
        daily[entry["date"]] += entry["hours"]
    projects = [{"project_id": pid, "project_code": codes.get(pid), "hours": hours(totals["hours"]),
                 "billable_hours": hours(totals["billable_hours"]), **ts.line_approval(pid)}
                for pid, totals in ts.project_hours().items()]
    entries = sorted((ts.entry_view(eid) for eid in ts.entries), key=lambda e: (e["date"], e["id"]))
    return {
        "employee_id": ts.employee_id, "week": ts.week, "status": ts.status,
        "editable": ts.editable(locked_through), "entries": entries, "total_hours": hours(ts.total()),
        "daily_totals": {day: hours(v) for day, v in daily.items()}, "projects": projects,
        "version": ts.version,
    }


def history(ts: Timesheet, events) -> list[dict]:
    """A week's audit trail from its events (``ts``: the empty week they rebuild): each event with its actor,
    the status before and after, and the fields it changed ({field: {old, new}})."""
    trail = []
    for event in events:
        before = ts.status
        old_entry = dict(ts.entries.get(event.data.get("entry_id"), {})) if event.data.get("entry_id") else None
        ts.apply(event)
        ts.version = event.version
        d = event.data
        # The recorded actor; never guessed (an amendment without a known actor shows null).
        actor = event.metadata.get("actor") or d.get("approver_id") or d.get("actor_id")
        item = {"version": event.version, "position": event.position, "type": event.type,
                "at": event.recorded_at.isoformat(), "actor": actor, "reason": d.get("reason"),
                "status_before": before, "status_after": ts.status, "changes": {}}
        if event.type in ("TimeLogged", "TimeEntryAmended", "TimeEntryDeleted", "TimeEntryCorrected"):
            item["entry_id"] = d["entry_id"]
            old = {k: (hours(v) if k == "hours" else v) for k, v in (old_entry or {}).items()}
            new = {k: d.get(k) for k in ENTRY_FIELDS} if event.type != "TimeEntryDeleted" else {}
            for k in ENTRY_FIELDS:
                if k in ("entry_id", "employee_id", "week") and event.type in ("TimeEntryAmended",
                                                                               "TimeEntryCorrected"):
                    continue
                if old.get(k) != new.get(k):
                    item["changes"][k] = {"old": old.get(k), "new": new.get(k)}
            for extra in ("moved_from_week", "moved_to_week", "correction", "booked_on"):
                if d.get(extra):
                    item[extra] = d[extra]
        elif event.type == "TimeEntriesInvoiced":
            item["entry_ids"], item["invoice_ref"] = d["entry_ids"], d["invoice_ref"]
        elif event.type in ("TimesheetApproved", "TimesheetRejected"):
            item["project_ids"] = d["project_ids"]
            item["on_behalf_of"] = d.get("on_behalf_of")  # the manager a delegate decided for
            if d.get("self_approval_override"):
                item["self_approval_override"] = True
        if before != ts.status:
            item["changes"]["status"] = {"old": before, "new": ts.status}
        trail.append(item)
    return trail


def lock_history(events) -> dict:
    """The period lock now and every move of it."""
    trail = [{"type": e.type, "through_date": e.data["through_date"],
              "previous_through_date": e.data.get("previous_through_date"), "reason": e.data.get("reason"),
              "actor": e.metadata.get("actor") or e.data.get("actor_id"), "at": e.recorded_at.isoformat(),
              "position": e.position,
             # a lock recorded when locks were by whole weeks: the date asked for (through_date: the week's Sunday)
             **({"requested_through_date": e.data["requested_through_date"]}
                if e.data.get("requested_through_date") else {})}
             for e in events]
    return {"locked_through": trail[-1]["through_date"] if trail else None, "history": trail}


# -- reports --------------------------------------------------------------------------------------
def pending_approvals(db, approver) -> list[dict]:
    """The submitted weeks with lines waiting for ``approver``: of the projects they manage, or approve for as a
    delegate (if the delegation covers the week); never the approver's own hours."""
    rows = db.execute(
        "SELECT l.employee_id, l.week, l.project_id, p.code, p.manager_id,"
        " (SELECT COALESCE(SUM(hours), 0) FROM ts_entries e WHERE e.employee_id = l.employee_id"
        "  AND e.week = l.week AND e.project_id = l.project_id AND e.deleted = 0) AS hours"
        " FROM ts_lines l JOIN ts_weeks w ON w.employee_id = l.employee_id AND w.week = l.week"
        " JOIN ts_projects p ON p.project_id = l.project_id"
        " WHERE w.phase = 'submitted' AND l.status = 'pending' AND l.employee_id != ?1 AND (p.manager_id = ?1"
        "  OR EXISTS (SELECT 1 FROM ts_delegations d WHERE d.delegate_id = ?1 AND d.project_id = p.project_id"
        "   AND d.manager_id = p.manager_id))"
        " ORDER BY l.week, l.employee_id, p.code", (approver,)).fetchall()
    weeks: dict = {}
    for r in rows:
        if r["manager_id"] != approver and not authority(db, approver, [r["project_id"]], r["week"]):
            continue  # a delegation whose range has no day in this week
        item = weeks.setdefault((r["employee_id"], r["week"]), {
            "employee_id": r["employee_id"], "week": r["week"], "hours": 0, "projects": []})
        item["projects"].append({"project_id": r["project_id"], "project_code": r["code"],
                                 "hours": hours(r["hours"])})
        item["hours"] += r["hours"]
    return [{**w, "hours": hours(w["hours"])} for w in weeks.values()]


def project_hours(db, project_id, from_date=None, to_date=None) -> dict:
    """A project's hours in a date range: in total, approved and billable, by employee and by task."""
    # Summed by SQLite per employee, task, approval and billability (a few groups, not a row per entry in Python).
    sql = ("SELECT employee_id, task_id, status = 'approved' AS ok, billable, SUM(hours) AS hours FROM ts_entries"
           " WHERE deleted = 0 AND project_id = ?")
    params = [project_id]
    if from_date:
        sql += " AND date >= ?"
        params.append(from_date)
    if to_date:
        sql += " AND date <= ?"
        params.append(to_date)
    sql += " GROUP BY employee_id, task_id, ok, billable"
    names = dict(db.execute("SELECT task_id, name FROM ts_tasks WHERE project_id = ?", (project_id,)).fetchall())
    total = approved = billable = 0
    by_employee: dict = {}
    by_task: dict = {}
    for employee_id, task_id, ok, is_billable, summed in db.execute(sql, params).fetchall():
        total += summed
        approved += summed if ok else 0
        billable += summed if is_billable else 0
        emp = by_employee.setdefault(employee_id, [0, 0, 0])
        task = by_task.setdefault(task_id, [names.get(task_id), 0, 0])
        emp[0] += summed
        emp[1] += summed if ok else 0
        emp[2] += summed if is_billable else 0
        task[1] += summed
        task[2] += summed if ok else 0
    return {
        "project_id": project_id, "from_date": from_date, "to_date": to_date,
        "total_hours": hours(total), "approved_hours": hours(approved), "billable_hours": hours(billable),
        "by_employee": [{"employee_id": k, "hours": hours(v[0]), "approved_hours": hours(v[1]),
                         "billable_hours": hours(v[2])} for k, v in sorted(by_employee.items())],
        "by_task": [{"task_id": k, "task_name": v[0], "hours": hours(v[1]), "approved_hours": hours(v[2])}
                    for k, v in sorted(by_task.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))],
    }


# The hours export (full and delta) is in exports.py.
export_key, export_rows, export_page = exports.export_key, exports.export_rows, exports.export_page
