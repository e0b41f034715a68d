"""Read models of the plan: the open milestones the timer checks, and the project's bookings (from the resource
service's events) that a task's close looks at. The hours logged per task are ``TimeEntriesView``'s rows."""
from __future__ import annotations

from datetime import date, timedelta

from shared.projections import Projection


class MilestonesView(Projection):
    """Each milestone's due date and status, for the timer's scan (the answers come from the aggregate)."""

    name = "milestones"
    version = 1
    tables = ("milestones",)

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS milestones (milestone_id TEXT, project_id TEXT, due_on TEXT,"
                   " status TEXT, PRIMARY KEY (project_id, milestone_id))")
        db.execute("CREATE INDEX IF NOT EXISTS milestones_by_due ON milestones (status, due_on)")

    def _set(self, db, d, **columns):
        for column, value in columns.items():
            db.execute(f"UPDATE milestones SET {column} = ? WHERE project_id = ? AND milestone_id = ?",
                       (value, d["project_id"], d["milestone_id"]))

    def on_MilestoneAdded(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO milestones VALUES (?, ?, ?, 'open')",
                   (d["milestone_id"], d["project_id"], d["due_on"]))

    def on_MilestoneUpdated(self, db, event):
        if "due_on" in event.data["changes"]:
            self._set(db, event.data, due_on=event.data["changes"]["due_on"])

    def on_MilestoneCompleted(self, db, event):
        self._set(db, event.data, status="done")

    def on_MilestoneReopened(self, db, event):
        self._set(db, event.data, status="open")

    def on_MilestoneMissed(self, db, event):
        self._set(db, event.data, status="missed")

    def on_ProjectStatusChanged(self, db, event):  # an archived project's milestones are checked no more
        if event.data["to_status"] == "archived":
            db.execute("DELETE FROM milestones WHERE project_id = ?", (event.data["project_id"],))


def milestones_to_check(db, today: str, days_ahead: int) -> list[tuple[str, str]]:
    """(project_id, milestone_id) of the open milestones due by ``today`` + ``days_ahead`` days, by due date."""
    until = (date.fromisoformat(today) + timedelta(days=days_ahead)).isoformat()
    return [tuple(row) for row in db.execute(
        "SELECT project_id, milestone_id FROM milestones WHERE status = 'open' AND due_on <= ?"
        " ORDER BY due_on, project_id, milestone_id", (until,))]


class ProjectBookingsView(Projection):
    """The bookings on each project, as the resource service books, edits, confirms and cancels them."""

    name = "project_bookings"
    version = 1
    tables = ("project_bookings",)

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS project_bookings (booking_id TEXT PRIMARY KEY, project_id TEXT,"
                   " resource_id TEXT, task_id TEXT, starts_on TEXT, ends_on TEXT, hours_per_day REAL,"
                   " tentative INTEGER)")
        db.execute("CREATE INDEX IF NOT EXISTS project_bookings_by_project ON project_bookings (project_id)")

    def _put(self, db, d, task_id):
        db.execute("INSERT OR REPLACE INTO project_bookings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (d["booking_id"], d["project_id"], d["resource_id"], task_id, d["starts_on"], d["ends_on"],
                    d["hours_per_day"], int(bool(d["tentative"]))))

    def on_ResourceBooked(self, db, event):
        self._put(db, event.data, event.data.get("task_id"))

    def on_BookingChanged(self, db, event):
        """The booking as it is now (the resource service's staffing change); a task it named stays named."""
        d = event.data
        known = db.execute("SELECT task_id FROM project_bookings WHERE booking_id = ?", (d["booking_id"],)).fetchone()
        self._put(db, d, d["task_id"] if "task_id" in d else (known[0] if known else None))

    def on_BookingConfirmed(self, db, event):
        db.execute("UPDATE project_bookings SET tentative = 0 WHERE booking_id = ?", (event.data["booking_id"],))

    def on_BookingCancelled(self, db, event):
        d = event.data
        cancelled_from = d.get("cancelled_from")
        if cancelled_from is None:
            db.execute("DELETE FROM project_bookings WHERE booking_id = ?", (d["booking_id"],))
            return
        last = (date.fromisoformat(cancelled_from) - timedelta(days=1)).isoformat()
        db.execute("UPDATE project_bookings SET ends_on = ? WHERE booking_id = ? AND ends_on > ?",
                   (last, d["booking_id"], last))
        db.execute("DELETE FROM project_bookings WHERE booking_id = ? AND ends_on < starts_on", (d["booking_id"],))

    def on_ResourceDeactivated(self, db, event):
        for booking_id in event.data.get("cancelled_booking_ids") or ():
            db.execute("DELETE FROM project_bookings WHERE booking_id = ?", (booking_id,))


def bookings_of(db, project_id) -> list[dict]:
    return [dict(row) for row in db.execute(
        "SELECT booking_id, resource_id, task_id, starts_on, ends_on, hours_per_day, tentative"
        " FROM project_bookings WHERE project_id = ? ORDER BY starts_on, booking_id", (project_id,))]


def task_hours(db, project_id) -> dict:
    """{task_id: centi-hours logged} on the project (``TimeEntriesView``'s rows)."""
    return {row[0]: row[1] for row in db.execute(
        "SELECT task_id, SUM(centi) FROM time_entries WHERE project_id = ? AND task_id IS NOT NULL GROUP BY task_id",
        (project_id,))}
