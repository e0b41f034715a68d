"""The rates read model, shared: every rate history (billing rates of members, tasks, projects and clients; cost
rates of people) and the names an export needs, built from the project and resource services' events.

It dispatches on event types only, so it works on a service's own events and on foreign ones recorded from the
project and resource feeds alike (the timesheet service). It reads old event versions too: a ProjectCreated v1
without ``client_id`` names the legacy client of its free-text ``customer`` (``legacy_client_id``), as the project
service's upcaster does.

Queries (``db`` is the read-model connection):
- ``rates_for(db, project_id, task_id, employee_id, day)`` -> {"billing_rate", "billing_level", "cost_rate",
  "cost_currency", "currency"} (rates as strings with 2 decimals, or None when missing);
- ``histories_for(db, project_id, task_id, employee_id)`` -> the RateHistory of each level, to price many days;
- ``client_of(db, project_id)`` -> the project's client and names; ``employee_name(db, employee_id)``;
- ``rate_chain(db, level, owner_id, subject_id)`` -> the chain of changes, in the order they were set.

Tables are prefixed ``rates_`` so that the projection can sit beside any service's own read models.
"""
from __future__ import annotations

from .money import RateHistory, as_str, billing_rate_and_level, legacy_client_id  # noqa: F401 (re-exported)
from .projections import Projection


class RatesView(Projection):
    name = "rates"
    version = 1
    tables = ("rates_changes", "rates_clients", "rates_projects", "rates_people")

    def setup(self, db):
        # level: member | task | project | client | cost. owner_id: the project (member, task, project), the client
        # or the person (cost); subject_id: the employee (member), the task (task), '' otherwise.
        # effective_from: NULL for a rate from the start. seq: the order the changes were set in.
        db.execute(
            "CREATE TABLE IF NOT EXISTS rates_changes (seq INTEGER PRIMARY KEY, level TEXT,"
            " owner_id TEXT, subject_id TEXT, effective_from TEXT, rate TEXT, currency TEXT, position INTEGER)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS rates_changes_by_owner ON rates_changes (level, owner_id, subject_id)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS rates_clients (client_id TEXT PRIMARY KEY, name TEXT, org_number TEXT,"
            " currency TEXT, contact_email TEXT, legacy INTEGER)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS rates_projects (project_id TEXT PRIMARY KEY, client_id TEXT, code TEXT,"
            " name TEXT, customer TEXT, currency TEXT, manager_id TEXT)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS rates_projects_by_client ON rates_projects (client_id)")
        db.execute("CREATE TABLE IF NOT EXISTS rates_people (employee_id TEXT PRIMARY KEY, name TEXT)")

    # -- writing -------------------------------------------------------------------------------------------------
    @staticmethod
    def _change(db, event, level, owner_id, subject_id, effective_from, rate, currency=None):
        db.execute("INSERT INTO rates_changes (level, owner_id, subject_id, effective_from, rate, currency, position)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (level, owner_id, subject_id or "", effective_from, as_str(rate) if rate is not None else None,
                    currency, getattr(event, "position", None)))

    # -- the project service's events ----------------------------------------------------------------------------
    def on_ProjectCreated(self, db, event):
        d = event.data
        client_id = d["client_id"] if "client_id" in d else legacy_client_id(d.get("customer"))
        db.execute("INSERT OR REPLACE INTO rates_projects VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (d["project_id"], client_id, d.get("code"), d.get("name"), d.get("customer"),
                    d.get("currency"), d.get("manager_id")))
        if client_id:  # a client known only from projects' free-text customer, until its ClientCreated
            db.execute("INSERT OR IGNORE INTO rates_clients VALUES (?, ?, NULL, ?, NULL, 1)",
                       (client_id, " ".join(str(d.get("customer")).split()) if d.get("customer") else None,
                        d.get("currency")))
        if d.get("hourly_rate") is not None:
            self._change(db, event, "project", d["project_id"], "", None, d["hourly_rate"])

    def on_ProjectUpdated(self, db, event):
        d, changes = event.data, event.data["changes"]
        for field in ("name", "manager_id", "customer", "client_id"):
            if field in changes:
                db.execute(f"UPDATE rates_projects SET {field} = ? WHERE project_id = ?", (changes[field], d["project_id"]))
        if "hourly_rate" in changes:  # the rate from the start, as before rates had dates
            self._change(db, event, "project", d["project_id"], "", None, changes["hourly_rate"])

    def on_MemberAssigned(self, db, event):
        d = event.data
        if "hourly_rate" in d:
            self._change(db, event, "member", d["project_id"], d["employee_id"], None, d["hourly_rate"])

    def on_BillingRateSet(self, db, event):
        d = event.data
        self._change(db, event, d["scope"], d["project_id"], d.get("subject_id"), d["effective_from"], d["rate"])

    def on_ClientCreated(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO rates_clients VALUES (?, ?, ?, ?, ?, 0)",
                   (d["client_id"], d["name"], d.get("org_number"), d["currency"], d.get("contact_email")))
        if d.get("default_rate") is not None:
            self._change(db, event, "client", d["client_id"], "", None, d["default_rate"])

    def on_ClientUpdated(self, db, event):
        d = event.data
        for field in ("name", "org_number", "currency", "contact_email"):
            if field in d["changes"]:
                db.execute(f"UPDATE rates_clients SET {field} = ? WHERE client_id = ?",
                           (d["changes"][field], d["client_id"]))

    def on_ClientRateSet(self, db, event):
        d = event.data
        self._change(db, event, "client", d["client_id"], "", d["effective_from"], d["rate"])

    # -- the resource service's events ---------------------------------------------------------------------------
    def on_ResourceRegistered(self, db, event):
        db.execute("INSERT OR REPLACE INTO rates_people VALUES (?, ?)",
                   (event.data["resource_id"], event.data.get("name")))

    def on_ResourceUpdated(self, db, event):
        changes = event.data.get("changes") or {}
        if "name" in changes:
            db.execute("UPDATE rates_people SET name = ? WHERE employee_id = ?",
                       (changes["name"], event.data["resource_id"]))

    def on_CostRateSet(self, db, event):
        d = event.data
        self._change(db, event, "cost", d["resource_id"], "", d["effective_from"], d["rate"], d.get("currency"))


# -- queries -----------------------------------------------------------------------------------------------------
def history(db, level: str, owner_id: str | None, subject_id: str | None = None) -> RateHistory:
    """The RateHistory of one level and subject (empty when it has none)."""
    rates = RateHistory()
    if owner_id is None:
        return rates
    for row in db.execute("SELECT effective_from, rate FROM rates_changes WHERE level = ? AND owner_id = ?"
                          " AND subject_id = ? ORDER BY seq", (level, owner_id, subject_id or "")):
        rates.set(row[1], row[0])
    return rates


def rate_chain(db, level: str, owner_id: str, subject_id: str | None = None) -> list[dict]:
    """Every change of one rate, in the order it was set: [{"effective_from", "rate", "currency", "position"}]."""
    return [dict(row) for row in db.execute(
        "SELECT effective_from, rate, currency, position FROM rates_changes WHERE level = ? AND owner_id = ?"
        " AND subject_id = ? ORDER BY seq", (level, owner_id, subject_id or ""))]


def cost_currency(db, employee_id: str, day: str | None = None) -> str | None:
    """The currency of the person's cost rate (of the latest change dated on or before ``day``, or the latest)."""
    sql = "SELECT currency FROM rates_changes WHERE level = 'cost' AND owner_id = ?"
    params: list = [employee_id]
    if day is not None:
        sql += " AND (effective_from IS NULL OR effective_from <= ?)"
        params.append(day)
    row = db.execute(sql + " ORDER BY effective_from DESC, seq DESC LIMIT 1", params).fetchone()
    return row[0] if row else None


def histories_for(db, project_id: str, task_id: str | None, employee_id: str | None) -> dict:
    """{"member", "task", "project", "client", "cost"}: the RateHistory of each level for hours of ``employee_id``
    on ``task_id`` of ``project_id`` (to price many days without reading again)."""
    project = db.execute("SELECT client_id FROM rates_projects WHERE project_id = ?", (project_id,)).fetchone()
    return {
        "member": history(db, "member", project_id, employee_id) if employee_id else RateHistory(),
        "task": history(db, "task", project_id, task_id) if task_id else RateHistory(),
        "project": history(db, "project", project_id),
        "client": history(db, "client", project[0] if project else None),
        "cost": history(db, "cost", employee_id) if employee_id else RateHistory(),
    }


def rates_for(db, project_id: str, task_id: str | None, employee_id: str | None, day: str) -> dict:
    """The rates in force on ``day`` for an hour of ``employee_id`` on ``task_id`` of ``project_id``:
    {"billing_rate", "billing_level", "cost_rate", "cost_currency", "currency"}. Rates are strings with 2 decimals
    or None (missing); ``currency`` is the project's; ``billing_level`` where the billing rate came from."""
    levels = histories_for(db, project_id, task_id, employee_id)
    rate, level = billing_rate_and_level(day, **{k: v for k, v in levels.items() if k != "cost"})
    cost = levels["cost"].rate_on(day)
    project = db.execute("SELECT currency FROM rates_projects WHERE project_id = ?", (project_id,)).fetchone()
    return {"billing_rate": as_str(rate), "billing_level": level, "cost_rate": as_str(cost),
            "cost_currency": cost_currency(db, employee_id, day) if employee_id else None,
            "currency": project[0] if project else None}


def client_of(db, project_id: str) -> dict | None:
    """The names an export needs for a project: {"client_id", "client_name", "project_code", "project_name",
    "currency"}; None for a project not known here."""
    row = db.execute(
        "SELECT p.client_id, COALESCE(c.name, p.customer) AS client_name, p.code, p.name, p.currency"
        " FROM rates_projects p LEFT JOIN rates_clients c ON c.client_id = p.client_id WHERE p.project_id = ?",
        (project_id,)).fetchone()
    if row is None:
        return None
    return {"client_id": row[0], "client_name": row[1], "project_code": row[2], "project_name": row[3],
            "currency": row[4]}


def employee_name(db, employee_id: str) -> str | None:
    row = db.execute("SELECT name FROM rates_people WHERE employee_id = ?", (employee_id,)).fetchone()
    return row[0] if row else None


def client(db, client_id: str) -> dict | None:
    """A client as this read model knows it: {"client_id", "name", "org_number", "currency", "contact_email",
    "legacy"} (legacy: known only from projects' free-text customer)."""
    row = db.execute("SELECT * FROM rates_clients WHERE client_id = ?", (client_id,)).fetchone()
    return None if row is None else {**dict(row), "legacy": bool(row["legacy"])}


def clients(db) -> list[dict]:
    return [{**dict(row), "legacy": bool(row["legacy"])}
            for row in db.execute("SELECT * FROM rates_clients ORDER BY name COLLATE NOCASE, client_id")]


def projects_of_client(db, client_id: str) -> list[str]:
    return [row[0] for row in db.execute("SELECT project_id FROM rates_projects WHERE client_id = ?"
                                         " ORDER BY code", (client_id,))]
