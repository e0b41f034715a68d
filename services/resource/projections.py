"""Read models of the resource service.

- ``resources``: one row per resource with a JSON snapshot of the aggregate, kept by applying each
  event with the aggregate's own handlers, so the capacity arithmetic is the domain's.
- ``resource_bookings``: which resources have bookings on which project (for projects that end).
- ``resource_projects``: the projects we know of and their status (from the project service).
- ``resource_time_entries``: logged hours, by entry_id (from the timesheet service).

Below them, the queries the service reads them with: functions of ``db`` (through ``ChronicleHandle.query``).
"""
import json
from decimal import Decimal

from services.resource.domain import Resource
from shared.projections import Projection


class ResourcesView(Projection):
    name = "resources"
    tables = ("resources", "resource_bookings")

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS resources (resource_id TEXT PRIMARY KEY, name TEXT, email TEXT,"
            " active INTEGER, skills TEXT, state TEXT, position INTEGER)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS resource_bookings (booking_id TEXT PRIMARY KEY, resource_id TEXT,"
            " project_id TEXT)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS resource_bookings_project ON resource_bookings (project_id)")

    def _apply(self, db, event):
        if not event.stream.startswith("resource-"):
            return
        resource_id = event.stream.split("-", 1)[1]
        row = db.execute("SELECT state FROM resources WHERE resource_id = ?", (resource_id,)).fetchone()
        resource = Resource.from_state(resource_id, json.loads(row[0])) if row else Resource(resource_id)
        resource.apply(event)
        resource.version = event.version
        db.execute(
            "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(resource_id) DO UPDATE SET"
            " name = excluded.name, email = excluded.email, active = excluded.active, skills = excluded.skills,"
            " state = excluded.state, position = excluded.position",
            (resource_id, resource.name, resource.email, int(resource.active), json.dumps(resource.skills),
             json.dumps(resource.to_state()), event.position),
        )
        if event.type == "ResourceBooked":
            db.execute("INSERT OR IGNORE INTO resource_bookings VALUES (?, ?, ?)",
                       (event.data["booking_id"], resource_id, event.data["project_id"]))

    on_ResourceRegistered = on_ResourceUpdated = on_ResourceDeactivated = _apply
    on_ResourceBooked = on_BookingCancelled = on_AbsenceRegistered = on_AbsenceCancelled = _apply
    on_BookingChanged = on_BookingConfirmed = _apply  # staffing (issue 17)


class ProjectsView(Projection):
    """The projects the project service told us about: bookable unless completed or archived, and who manages
    them (who may book on them)."""

    name = "resource_projects"
    tables = ("resource_projects",)
    version = 2  # manager_id

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS resource_projects (project_id TEXT PRIMARY KEY, name TEXT, code TEXT,"
            " status TEXT, manager_id TEXT)"
        )

    def on_ProjectCreated(self, db, event):
        d = event.data
        db.execute(
            "INSERT INTO resource_projects VALUES (?, ?, ?, ?, ?) ON CONFLICT(project_id) DO UPDATE SET"
            " name = excluded.name, code = excluded.code, manager_id = excluded.manager_id",
            (d["project_id"], d.get("name"), d.get("code"), d.get("status") or "active", d["manager_id"]),
        )

    def on_ProjectUpdated(self, db, event):
        d = event.data
        if "manager_id" in d["changes"]:  # the project handed to another manager
            db.execute("UPDATE resource_projects SET manager_id = ? WHERE project_id = ?",
                       (d["changes"]["manager_id"], d["project_id"]))

    def on_ProjectStatusChanged(self, db, event):
        d = event.data
        db.execute(
            "INSERT INTO resource_projects (project_id, status) VALUES (?, ?)"
            " ON CONFLICT(project_id) DO UPDATE SET status = excluded.status",
            (d["project_id"], d["to_status"]),
        )


def _centi(value) -> int:
    return int(Decimal(str(value or 0)) * 100)


class TimeEntriesView(Projection):
    """Logged hours by entry_id. Logged and Amended carry the full state; a delete marks the entry
    deleted. Each row keeps the source position it came from, so an older fact never overwrites a
    newer one (an entry moved to another week is a delete followed by a log of the same entry_id)."""

    name = "resource_time_entries"
    tables = ("resource_time_entries",)

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS resource_time_entries (entry_id TEXT PRIMARY KEY, employee_id TEXT,"
            " project_id TEXT, date TEXT, hours INTEGER, billable INTEGER, deleted INTEGER, source_position INTEGER)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS resource_time_entries_by_employee"
                   " ON resource_time_entries (employee_id, date)")

    def _put(self, db, event, deleted):
        d = event.data
        source = (event.metadata.get("origin") or {}).get("position", event.position)
        db.execute(
            "INSERT INTO resource_time_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(entry_id) DO UPDATE SET"
            " employee_id = excluded.employee_id, project_id = excluded.project_id, date = excluded.date,"
            " hours = excluded.hours, billable = excluded.billable, deleted = excluded.deleted,"
            " source_position = excluded.source_position"
            " WHERE excluded.source_position >= resource_time_entries.source_position",
            (d["entry_id"], d.get("employee_id"), d.get("project_id"), d.get("date"), _centi(d.get("hours")),
             int(bool(d.get("billable"))), int(deleted), source),
        )

    def on_TimeLogged(self, db, event):
        self._put(db, event, deleted=False)

    def on_TimeEntryAmended(self, db, event):
        self._put(db, event, deleted=False)

    def on_TimeEntryCorrected(self, db, event):  # the timesheet's corrections after its lock: the full state
        self._put(db, event, deleted=False)

    def on_TimeEntryDeleted(self, db, event):
        self._put(db, event, deleted=True)


def projections():
    return [ResourcesView(), ProjectsView(), TimeEntriesView()]


# -- queries --------------------------------------------------------------------------------------
def resources(db, *, resource_id=None, active=None, skill=None) -> list[Resource]:
    """The resources as the read model holds them, by name; ``active`` None: active or not."""
    sql, params = "SELECT resource_id, state FROM resources WHERE 1 = 1", []
    if resource_id is not None:
        sql += " AND resource_id = ?"
        params.append(resource_id)
    if active is not None:
        sql += " AND active = ?"
        params.append(int(active))
    if skill:
        sql += " AND EXISTS (SELECT 1 FROM json_each(resources.skills) WHERE value = ?)"
        params.append(skill)
    rows = db.execute(sql + " ORDER BY name, resource_id", params).fetchall()
    return [Resource.from_state(r[0], json.loads(r[1])) for r in rows]


def booked_on(db, project_id) -> list[str]:
    """The resources with a booking (live or not) on the project."""
    return [r[0] for r in db.execute(
        "SELECT DISTINCT resource_id FROM resource_bookings WHERE project_id = ? ORDER BY resource_id", (project_id,))]


def project(db, project_id) -> dict | None:
    """The project as the project service last told us: ``{project_id, status, manager_id}``."""
    row = db.execute("SELECT project_id, status, manager_id FROM resource_projects WHERE project_id = ?",
                     (project_id,)).fetchone()
    return dict(row) if row else None


def logged_hours(db, start, end) -> dict[str, tuple[int, int]]:
    """Per employee: the centi-hours logged from ``start`` to ``end``, and the billable part of them."""
    return {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT employee_id, SUM(hours), SUM(CASE WHEN billable THEN hours ELSE 0 END)"
        " FROM resource_time_entries WHERE deleted = 0 AND date BETWEEN ? AND ? GROUP BY employee_id",
        (start, end))}
