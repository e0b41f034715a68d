"""The forecast's read model: the facts a project's forecast is computed from (hours logged, bookings, absences, the
booked people's working weeks) from the timesheet and resource services' events, and the weeks waiting for approval.

The facts are kept with the positions they hold between (``since``: the event that wrote the row, ``until``: the
one that replaced or removed it, NULL while current), so they read the same now and as of any earlier event: the
forecast watch computes a crossing from the facts as of the event it reacts to, never from "now" (the read model
may already show later events, and the cause would differ between runs).
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

from shared.money import RateHistory, billing_rate
from shared.projections import Projection

from . import forecast as fc
from .projections import centi


def _optional_centi(value):
    return None if value is None else centi(value)


class ForecastFactsView(Projection):
    name = "forecast_facts"
    version = 3  # 3: corrections after the lock (TimeEntryCorrected)
    tables = ("forecast_entries", "forecast_bookings", "forecast_absences", "forecast_calendars", "forecast_waiting")

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS forecast_entries (entry_id TEXT, week TEXT, employee_id TEXT,"
                   " project_id TEXT, task_id TEXT, day TEXT, centi INTEGER, billable INTEGER, since INTEGER, until INTEGER)")
        db.execute("CREATE INDEX IF NOT EXISTS forecast_entries_by_project ON forecast_entries (project_id)")
        db.execute("CREATE INDEX IF NOT EXISTS forecast_entries_by_key ON forecast_entries (entry_id, week)")
        db.execute("CREATE TABLE IF NOT EXISTS forecast_bookings (booking_id TEXT, resource_id TEXT, project_id TEXT,"
                   " task_id TEXT, starts_on TEXT, ends_on TEXT, centi INTEGER, tentative INTEGER, since INTEGER,"
                   " until INTEGER)")
        db.execute("CREATE INDEX IF NOT EXISTS forecast_bookings_by_project ON forecast_bookings (project_id)")
        db.execute("CREATE INDEX IF NOT EXISTS forecast_bookings_by_key ON forecast_bookings (booking_id)")
        db.execute("CREATE TABLE IF NOT EXISTS forecast_absences (absence_id TEXT, resource_id TEXT, starts_on TEXT,"
                   " ends_on TEXT, centi INTEGER, since INTEGER, until INTEGER)")
        db.execute("CREATE INDEX IF NOT EXISTS forecast_absences_by_resource ON forecast_absences (resource_id)")
        # effective_from '' : from the start. working_days: a JSON list of ISO weekdays.
        db.execute("CREATE TABLE IF NOT EXISTS forecast_calendars (resource_id TEXT, effective_from TEXT,"
                   " weekly INTEGER, working_days TEXT, since INTEGER, until INTEGER)")
        db.execute("CREATE INDEX IF NOT EXISTS forecast_calendars_by_resource ON forecast_calendars (resource_id)")
        # Current only: the weeks submitted with hours on the project and not yet approved or rejected for it.
        db.execute("CREATE TABLE IF NOT EXISTS forecast_waiting (project_id TEXT, employee_id TEXT, week TEXT,"
                   " submitted_on TEXT, PRIMARY KEY (project_id, employee_id, week))")

    # -- versioned rows -----------------------------------------------------------------------------
    @staticmethod
    def _close(db, table, where, params, position):
        db.execute(f"UPDATE {table} SET until = ? WHERE until IS NULL AND {where}", (position, *params))

    @staticmethod
    def _current(db, table, where, params):
        return db.execute(f"SELECT * FROM {table} WHERE until IS NULL AND {where}", params).fetchone()

    # -- hours logged (timesheet) -------------------------------------------------------------------
    def _put_entry(self, db, event):
        d = event.data
        self._close(db, "forecast_entries", "entry_id = ? AND week = ?", (d["entry_id"], d["week"]), event.position)
        db.execute("INSERT INTO forecast_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                   (d["entry_id"], d["week"], d["employee_id"], d["project_id"], d.get("task_id"), d.get("date"),
                    centi(d["hours"]), int(bool(d.get("billable", True))), event.position))

    def on_TimeLogged(self, db, event):
        self._put_entry(db, event)

    def on_TimeEntryAmended(self, db, event):
        self._put_entry(db, event)

    def on_TimeEntryCorrected(self, db, event):  # a correction after the lock: the entry's new state
        self._put_entry(db, event)

    def on_TimeEntryDeleted(self, db, event):
        d = event.data
        self._close(db, "forecast_entries", "entry_id = ? AND week = ?", (d["entry_id"], d["week"]), event.position)

    # -- bookings and absences (resource) -----------------------------------------------------------
    def _put_booking(self, db, event, **changes):
        d = event.data
        row = self._current(db, "forecast_bookings", "booking_id = ?", (d["booking_id"],))
        fields = dict(row) if row is not None else {}
        fields.update(changes)
        self._close(db, "forecast_bookings", "booking_id = ?", (d["booking_id"],), event.position)
        if fields.get("starts_on") is None:
            return  # a change of a booking never booked here: nothing to plan
        db.execute("INSERT INTO forecast_bookings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                   (d["booking_id"], fields["resource_id"], fields["project_id"], fields.get("task_id"),
                    fields["starts_on"], fields["ends_on"], fields["centi"], int(bool(fields["tentative"])),
                    event.position))

    def on_ResourceBooked(self, db, event):
        d = event.data
        self._put_booking(db, event, resource_id=d["resource_id"], project_id=d["project_id"],
                          task_id=d.get("task_id"), starts_on=d["starts_on"], ends_on=d["ends_on"],
                          centi=centi(d["hours_per_day"]), tentative=d["tentative"])

    def on_BookingChanged(self, db, event):
        d = event.data
        self._put_booking(db, event, resource_id=d["resource_id"], project_id=d["project_id"],
                          task_id=d.get("task_id"), starts_on=d["starts_on"], ends_on=d["ends_on"],
                          centi=centi(d["hours_per_day"]), tentative=d["tentative"])

    def on_BookingConfirmed(self, db, event):
        self._put_booking(db, event, tentative=False)

    def on_BookingCancelled(self, db, event):
        d = event.data
        row = self._current(db, "forecast_bookings", "booking_id = ?", (d["booking_id"],))
        cut = d.get("cancelled_from")
        if row is not None and cut and cut > row["starts_on"]:  # the days before stay booked
            ends_on = (date.fromisoformat(cut) - timedelta(days=1)).isoformat()
            self._put_booking(db, event, ends_on=min(ends_on, row["ends_on"]))
        else:
            self._close(db, "forecast_bookings", "booking_id = ?", (d["booking_id"],), event.position)

    def on_AbsenceRegistered(self, db, event):
        d = event.data
        self._close(db, "forecast_absences", "absence_id = ?", (d["absence_id"],), event.position)
        db.execute("INSERT INTO forecast_absences VALUES (?, ?, ?, ?, ?, ?, NULL)",
                   (d["absence_id"], d["resource_id"], d["starts_on"], d["ends_on"],
                    _optional_centi(d.get("hours_per_day")), event.position))

    def on_AbsenceCancelled(self, db, event):
        self._close(db, "forecast_absences", "absence_id = ?", (event.data["absence_id"],), event.position)

    # -- working weeks (resource) -------------------------------------------------------------------
    def _put_calendar(self, db, event, resource_id, effective_from, weekly, working_days):
        key = effective_from or ""
        self._close(db, "forecast_calendars", "resource_id = ? AND effective_from = ?", (resource_id, key),
                    event.position)
        db.execute("INSERT INTO forecast_calendars VALUES (?, ?, ?, ?, ?, NULL)",
                   (resource_id, key, weekly, json.dumps(sorted(set(working_days))), event.position))

    def on_ResourceRegistered(self, db, event):
        d = event.data
        self._put_calendar(db, event, d["resource_id"], None, centi(d["weekly_capacity_hours"]), d["working_days"])

    def on_ResourceUpdated(self, db, event):
        d = event.data
        changes = d.get("changes") or {}
        if "weekly_capacity_hours" not in changes and "working_days" not in changes:
            return
        start = d.get("effective_from")
        rows = db.execute("SELECT * FROM forecast_calendars WHERE until IS NULL AND resource_id = ?",
                          (d["resource_id"],)).fetchall()
        at = None  # the week in force at ``start``: what the change does not name stays as it was
        for row in sorted(rows, key=lambda r: r["effective_from"]):
            if start is None or row["effective_from"] <= start:
                at = row
        weekly = centi(changes["weekly_capacity_hours"]) if "weekly_capacity_hours" in changes else (
            at["weekly"] if at is not None else 0)
        working = changes.get("working_days", json.loads(at["working_days"]) if at is not None else [1, 2, 3, 4, 5])
        self._put_calendar(db, event, d["resource_id"], start, weekly, working)

    # -- weeks waiting for approval (timesheet) -----------------------------------------------------
    def on_TimesheetSubmitted(self, db, event):
        d = event.data
        db.execute("DELETE FROM forecast_waiting WHERE employee_id = ? AND week = ?", (d["employee_id"], d["week"]))
        for project in d["projects"]:
            db.execute("INSERT OR REPLACE INTO forecast_waiting VALUES (?, ?, ?, ?)",
                       (project["project_id"], d["employee_id"], d["week"], event.recorded_at.date().isoformat()))

    def on_TimesheetApproved(self, db, event):
        d = event.data
        for project_id in d["project_ids"]:
            db.execute("DELETE FROM forecast_waiting WHERE project_id = ? AND employee_id = ? AND week = ?",
                       (project_id, d["employee_id"], d["week"]))

    def on_TimesheetRejected(self, db, event):  # the week is rejected: nothing of it waits any more
        db.execute("DELETE FROM forecast_waiting WHERE employee_id = ? AND week = ?",
                   (event.data["employee_id"], event.data["week"]))

    on_TimesheetReopened = on_TimesheetRejected


# -- queries --------------------------------------------------------------------------------------
def _live(as_of):
    """The rows current now (``as_of`` None), or as of the event at position ``as_of``."""
    if as_of is None:
        return "until IS NULL", ()
    return "since <= ? AND (until IS NULL OR until > ?)", (as_of, as_of)


def project_facts(db, project_id, as_of=None) -> dict:
    """{"entries", "bookings", "absences", "calendars"} of the project, now or as of position ``as_of``: the
    absences and working weeks of the people booked on it."""
    live, params = _live(as_of)
    entries = [fc.Entry(r["employee_id"], r["day"], r["centi"], r["task_id"], bool(r["billable"])) for r in db.execute(
        f"SELECT * FROM forecast_entries WHERE project_id = ? AND {live} ORDER BY since", (project_id, *params))]
    return {"entries": entries, **project_plan(db, project_id, as_of)}


def project_plan(db, project_id, as_of=None) -> dict:
    """``project_facts`` but the entries (the hours logged are ``projections.actuals``): what its bookings plan,
    reading no more than the bookings and their people's absences and working weeks, however long the project."""
    live, params = _live(as_of)
    bookings = [fc.Booking(r["booking_id"], r["resource_id"], r["starts_on"], r["ends_on"], r["centi"],
                           bool(r["tentative"]), r["task_id"]) for r in db.execute(
        f"SELECT * FROM forecast_bookings WHERE project_id = ? AND {live} ORDER BY since", (project_id, *params))]
    people = sorted({b.resource_id for b in bookings})
    absences, calendars = [], {}
    for person in people:
        absences += [fc.Absence(person, r["starts_on"], r["ends_on"], r["centi"]) for r in db.execute(
            f"SELECT * FROM forecast_absences WHERE resource_id = ? AND {live} ORDER BY since", (person, *params))]
        rows = db.execute(f"SELECT * FROM forecast_calendars WHERE resource_id = ? AND {live}"
                          " ORDER BY effective_from", (person, *params)).fetchall()
        if rows:
            calendars[person] = [fc.Calendar(r["effective_from"] or None, r["weekly"],
                                             tuple(json.loads(r["working_days"]))) for r in rows]
    return {"bookings": bookings, "absences": absences, "calendars": calendars}


def projects_booking(db, resource_id, as_of=None) -> list[str]:
    """The projects the person is booked on, now or as of ``as_of``."""
    live, params = _live(as_of)
    rows = db.execute(f"SELECT DISTINCT project_id FROM forecast_bookings WHERE resource_id = ? AND {live}",
                      (resource_id, *params))
    return sorted(r[0] for r in rows)


def booking_projects(db, booking_id, as_of=None) -> list[str]:
    """The projects the booking is or was on, up to ``as_of``."""
    rows = db.execute("SELECT DISTINCT project_id FROM forecast_bookings WHERE booking_id = ?"
                      + ("" if as_of is None else " AND since <= ?"),
                      (booking_id,) if as_of is None else (booking_id, as_of))
    return sorted(r[0] for r in rows)


def entry_live(db, entry_id, week, as_of) -> bool:
    live, params = _live(as_of)
    return db.execute(f"SELECT 1 FROM forecast_entries WHERE entry_id = ? AND week = ? AND {live}",
                      (entry_id, week, *params)).fetchone() is not None


def waiting_weeks(db, project_id) -> list[dict]:
    return [dict(r) for r in db.execute(
        "SELECT employee_id, week, submitted_on FROM forecast_waiting WHERE project_id = ? ORDER BY week, employee_id",
        (project_id,))]


def rate_histories(db, project_id, client_id, as_of=None) -> dict:
    """The billing rates of the project's hours (``shared.rates``' changes, as money keeps them beside the time
    entries), now or as set by the event at position ``as_of``: {"member": {employee: RateHistory}, "task": {task:
    RateHistory}, "project": RateHistory, "client": RateHistory}."""
    out = {"member": {}, "task": {}, "project": RateHistory(), "client": RateHistory()}
    sql = ("SELECT level, subject_id, effective_from, rate FROM rates_changes WHERE ((level IN ('member', 'task',"
           " 'project') AND owner_id = ?) OR (level = 'client' AND owner_id = ?))")
    params = [project_id, client_id or ""]
    if as_of is not None:
        sql += " AND position <= ?"
        params.append(as_of)
    for row in db.execute(sql + " ORDER BY seq", params):
        level, subject = row["level"], row["subject_id"]
        history = out[level].setdefault(subject, RateHistory()) if level in ("member", "task") else out[level]
        history.set(row["rate"], row["effective_from"])
    return out


# -- the project's own facts ----------------------------------------------------------------------
def _decimal(value):
    return None if value is None else Decimal(str(value))


def facts_of(project, rows: dict, rates: dict | None = None) -> fc.Facts:
    """The forecast's facts: the project's budget, dates, phases, tasks and whether they are billable (from the
    aggregate), the rows of ``project_facts`` and the billing rates of ``rate_histories`` (None: the member's
    ``hourly_rate``, else the project's)."""
    phases = [fc.Phase(p["id"], p["name"], p["starts_on"], p["ends_on"], p["budget_centi"],
                       _decimal(p["budget_amount"]), p["position"]) for p in getattr(project, "phases", {}).values()]
    task_phases = {t["id"]: t["phase_id"] for t in project.tasks.values() if t.get("phase_id")}
    task_billable = {t["id"]: t["billable"] for t in project.tasks.values() if t.get("billable") is not None}

    def rate(person, day, task_id):
        if rates is None:
            return _decimal(project.rate_for(person))
        return billing_rate(day, member=rates["member"].get(person), task=rates["task"].get(task_id),
                            project=rates["project"], client=rates["client"])

    return fc.Facts(budget_centi=project.budget_centi, budget_amount=_decimal(project.budget_amount),
                    starts_on=project.starts_on, ends_on=project.ends_on, phases=phases, task_phases=task_phases,
                    billable=project.billable, task_billable=task_billable, rate=rate, **rows)
