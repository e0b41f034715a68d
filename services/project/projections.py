"""Read models of the project service: project summaries, known resources and time entries.

Time entries are kept by (entry_id, week): an entry moved to another week arrives as a Deleted in
the old week's stream and a Logged in the new one's, and the two streams may be recorded in either
order; keyed by week, both orders give the same rows.
"""
from __future__ import annotations

from decimal import Decimal

from shared.money import cents, from_cents, price
from shared.projections import Projection
from shared.rates import RatesView, rates_for
from shared.validation import hours

from . import forecast as fc


def centi(value) -> int:
    return int((Decimal(str(value or 0)) * 100).to_integral_value())


class ProjectsView(Projection):
    name = "projects"
    version = 3  # 2: client_id (money), the plan's events move a project's version; 3: both, and the forecast's
    tables = ("projects", "project_members")

    def setup(self, db):
        db.execute(
            "CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, code TEXT, name TEXT, customer TEXT,"
            " manager_id TEXT, status TEXT, billable INTEGER, starts_on TEXT, ends_on TEXT, budget_centi INTEGER,"
            " budget_amount TEXT, currency TEXT, hourly_rate TEXT, version INTEGER, client_id TEXT)"
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
            "INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (d["project_id"], d["code"], d["name"], d["customer"], d["manager_id"], int(d["billable"]),
             d["starts_on"], d["ends_on"], None if d["budget_hours"] is None else centi(d["budget_hours"]),
             d["budget_amount"], d["currency"], d["hourly_rate"], event.version, d.get("client_id")),
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
    on_ForecastOverBudget = on_ForecastBackWithinBudget = on_TaskAdded  # the forecast watch's (forecast.py)


def project_summaries(db, *, visible_to=None, status=None, customer=None, manager_id=None, member_id=None,
                      client_id=None):
    """Project summaries by code. ``visible_to``: only the projects that person manages or is a member of (the rule
    of ``access.readable``); None: every project. The other arguments filter when given."""
    member = "EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.employee_id = ?)"
    sql, params = "SELECT * FROM projects p WHERE 1 = 1", []
    if visible_to is not None:
        sql += f" AND (p.manager_id = ? OR {member})"
        params += [visible_to, visible_to]
    for column, value in (("status", status), ("customer", customer), ("manager_id", manager_id),
                          ("client_id", client_id)):
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
        "client_id": row["client_id"], "manager_id": row["manager_id"], "status": row["status"], "billable": bool(row["billable"]),
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
    approval names the lines it approved, a rejection the lines whose approval it took away.

    Each entry is priced (``shared.money.price``) at the rates in force on its date: the shared rates read model
    (``shared.rates.RatesView``) runs inside this projection, in the same transaction, so an entry and the rates
    it was priced at never disagree. A rate change from a date reprices the entries on or after that date only.

    Each entry also has its phase (``forecast.phase_of``: its task's, else the one whose dates hold its day), from
    the phases and tasks kept here, and the actuals keep running sums per project and phase (hours, billable cents,
    priced entries, unpriced hours) with a snapshot at every position they change: the watches read a project's
    figures as of an event in a few rows, whatever the size of the project. A rate reprices, a phase's dates or
    order or a task's phase re-phases, the entries they touch, at that event's position."""

    name = "time_entries"
    # 4: the hours ledger, for figures as of an event; 5: amounts, the rates and the money ledger; 6: each entry's
    # phase and the actuals (running sums by project and phase, as of any event); 7: no money ledger (the actuals
    # give the money as of an event)
    version = 7
    tables = ("time_entries", "hours_ledger", "entry_phases", "entry_tasks", "actuals", "actuals_ledger") \
        + RatesView.tables

    def __init__(self):
        self.rates = RatesView()

    def handles(self, event_type: str) -> bool:
        return super().handles(event_type) or self.rates.handles(event_type)

    def apply(self, db, event):
        self.rates.apply(db, event)  # the rates first: the repricing below reads them
        super().apply(db, event)

    def setup(self, db):
        self.rates.setup(db)
        db.execute(
            "CREATE TABLE IF NOT EXISTS time_entries (entry_id TEXT, week TEXT, employee_id TEXT, project_id TEXT,"
            " task_id TEXT, date TEXT, centi INTEGER, billable INTEGER, approved INTEGER,"
            " billing_rate TEXT, cost_rate TEXT, billable_cents INTEGER, cost_cents INTEGER, phase_id TEXT,"
            " PRIMARY KEY (entry_id, week))"
        )
        # What an entry's phase is worked out from (the project's plan, as its aggregate applies it).
        db.execute("CREATE TABLE IF NOT EXISTS entry_phases (project_id TEXT, phase_id TEXT, starts_on TEXT,"
                   " ends_on TEXT, position INTEGER, PRIMARY KEY (project_id, phase_id))")
        db.execute("CREATE TABLE IF NOT EXISTS entry_tasks (project_id TEXT, task_id TEXT, phase_id TEXT,"
                   " PRIMARY KEY (project_id, task_id))")
        # The running sums of the project's entries by phase ('': none), now and after each change (by position,
        # then rowid: a key changed twice at one position keeps its last snapshot last).
        db.execute("CREATE TABLE IF NOT EXISTS actuals (project_id TEXT, phase_id TEXT, centi INTEGER,"
                   " billable_cents INTEGER, priced INTEGER, unpriced_centi INTEGER, PRIMARY KEY (project_id, phase_id))")
        db.execute("CREATE TABLE IF NOT EXISTS actuals_ledger (position INTEGER, project_id TEXT, phase_id TEXT,"
                   " centi INTEGER, billable_cents INTEGER, priced INTEGER, unpriced_centi INTEGER)")
        db.execute("CREATE INDEX IF NOT EXISTS actuals_ledger_by_key ON actuals_ledger (project_id, phase_id, position)")
        db.execute("CREATE INDEX IF NOT EXISTS time_entries_by_project ON time_entries (project_id)")
        db.execute("CREATE INDEX IF NOT EXISTS time_entries_by_employee ON time_entries (employee_id, date)")
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
        old = self._entry(db, d["entry_id"], d["week"])
        billable = bool(d.get("billable", True))
        rates, billable_cents, cost_cents = _priced(db, d["project_id"], d.get("task_id"), d["employee_id"],
                                                    d.get("date"), centi(d["hours"]), billable)
        phase_id = _phase(_plan(db, d["project_id"]), d.get("task_id"), d.get("date"))
        # Hours change only in an open or rejected week, where no entry is approved.
        db.execute(
            "INSERT OR REPLACE INTO time_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            (d["entry_id"], d["week"], d["employee_id"], d["project_id"], d.get("task_id"), d.get("date"),
             centi(d["hours"]), int(billable), rates["billing_rate"], rates["cost_rate"], billable_cents, cost_cents,
             phase_id),
        )
        _tally(db, event, [(old, self._entry(db, d["entry_id"], d["week"]))])

    @staticmethod
    def _entry(db, entry_id, week):
        return db.execute("SELECT * FROM time_entries WHERE entry_id = ? AND week = ?", (entry_id, week)).fetchone()

    def _reprice(self, db, event, where: str, params):
        """Prices again the entries matching ``where`` (SQL over time_entries) at the rates now known."""
        changes = []
        for row in db.execute(f"SELECT * FROM time_entries WHERE {where}", params).fetchall():
            rates, billable_cents, cost_cents = _priced(db, row["project_id"], row["task_id"], row["employee_id"],
                                                        row["date"], row["centi"], bool(row["billable"]))
            if (rates["billing_rate"], rates["cost_rate"], billable_cents, cost_cents) == (
                    row["billing_rate"], row["cost_rate"], row["billable_cents"], row["cost_cents"]):
                continue
            db.execute("UPDATE time_entries SET billing_rate = ?, cost_rate = ?, billable_cents = ?, cost_cents = ?"
                       " WHERE entry_id = ? AND week = ?", (rates["billing_rate"], rates["cost_rate"], billable_cents,
                                                            cost_cents, row["entry_id"], row["week"]))
            changes.append((row, {**dict(row), "billing_rate": rates["billing_rate"], "billable_cents": billable_cents}))
        _tally(db, event, changes)

    def _rephase(self, db, event, project_id, task_id=None):
        """Works out again the phase of the project's entries (of one task: ``task_id``) from its plan now."""
        plan, changes = _plan(db, project_id), []
        sql, params = "SELECT * FROM time_entries WHERE project_id = ?", [project_id]
        if task_id is not None:
            sql, params = sql + " AND task_id = ?", params + [task_id]
        for row in db.execute(sql, params).fetchall():
            phase_id = _phase(plan, row["task_id"], row["date"])
            if phase_id != row["phase_id"]:
                db.execute("UPDATE time_entries SET phase_id = ? WHERE entry_id = ? AND week = ?",
                           (phase_id, row["entry_id"], row["week"]))
                changes.append((row, {**dict(row), "phase_id": phase_id}))
        _tally(db, event, changes)

    # The plan an entry's phase comes from, as the project aggregate applies it (``planning.Planning``).
    def on_PhaseAdded(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO entry_phases VALUES (?, ?, ?, ?, ?)",
                   (d["project_id"], d["phase_id"], d["starts_on"], d["ends_on"], d["position"]))
        self._rephase(db, event, d["project_id"])

    def on_PhaseUpdated(self, db, event):
        d = event.data
        changes = {k: v for k, v in d["changes"].items() if k in ("starts_on", "ends_on", "position")}
        for column, value in changes.items():
            db.execute(f"UPDATE entry_phases SET {column} = ? WHERE project_id = ? AND phase_id = ?",
                       (value, d["project_id"], d["phase_id"]))
        if changes:
            self._rephase(db, event, d["project_id"])

    def _task_phase(self, db, event, phase_id):
        d = event.data
        db.execute("INSERT INTO entry_tasks VALUES (?, ?, ?) ON CONFLICT (project_id, task_id) DO UPDATE"
                   " SET phase_id = excluded.phase_id", (d["project_id"], d["task_id"], phase_id))
        self._rephase(db, event, d["project_id"], d["task_id"])

    def on_TaskAdded(self, db, event):  # entries may name the task before it is added (another stream)
        self._task_phase(db, event, event.data.get("phase_id"))

    def on_TaskUpdated(self, db, event):
        if "phase_id" in event.data["changes"]:
            self._task_phase(db, event, event.data["changes"]["phase_id"])

    # A rate changes: the entries it may price again (those on or after its date; all for a rate from the start).
    def on_BillingRateSet(self, db, event):
        d = event.data
        subject = {"task": " AND task_id = ?", "member": " AND employee_id = ?"}.get(d["scope"], "")
        self._reprice(db, event, "project_id = ? AND date >= ?" + subject,
                      [d["project_id"], d["effective_from"]] + ([d["subject_id"]] if subject else []))

    def on_ClientRateSet(self, db, event):
        d = event.data
        self._reprice(db, event, "project_id IN (SELECT project_id FROM rates_projects WHERE client_id = ?)"
                      " AND date >= ?", [d["client_id"], d["effective_from"]])

    def on_ClientCreated(self, db, event):
        self._reprice(db, event, "project_id IN (SELECT project_id FROM rates_projects WHERE client_id = ?)",
                      [event.data["client_id"]])

    def on_CostRateSet(self, db, event):
        d = event.data
        self._reprice(db, event, "employee_id = ? AND date >= ?", [d["resource_id"], d["effective_from"]])

    def on_ProjectCreated(self, db, event):  # entries recorded before their project (another stream): priced now
        self._reprice(db, event, "project_id = ?", [event.data["project_id"]])

    def on_ProjectUpdated(self, db, event):
        if {"hourly_rate", "client_id"} & set(event.data["changes"]):
            self._reprice(db, event, "project_id = ?", [event.data["project_id"]])

    def on_MemberAssigned(self, db, event):
        self._reprice(db, event, "project_id = ? AND employee_id = ?",
                      [event.data["project_id"], event.data["employee_id"]])

    def on_TimeLogged(self, db, event):
        self._put(db, event)

    def on_TimeEntryAmended(self, db, event):
        self._put(db, event)

    def on_TimeEntryCorrected(self, db, event):
        """A correction after the timesheet's lock (its full state, as Amended): the entry's approval is kept."""
        d = event.data
        row = db.execute("SELECT approved FROM time_entries WHERE entry_id = ? AND week = ?",
                         (d["entry_id"], d["week"])).fetchone()
        self._put(db, event)
        if row is not None:
            db.execute("UPDATE time_entries SET approved = ? WHERE entry_id = ? AND week = ?",
                       (row[0], d["entry_id"], d["week"]))

    def on_TimeEntryDeleted(self, db, event):
        self._ledger(db, event, event.data, None)
        _tally(db, event, [(self._entry(db, event.data["entry_id"], event.data["week"]), None)])
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


def _plan(db, project_id) -> fc.Facts:
    """The project's phases and its tasks' phases, as ``forecast.phase_of`` reads them."""
    phases = [fc.Phase(r["phase_id"], "", r["starts_on"], r["ends_on"], None, None, r["position"])
              for r in db.execute("SELECT * FROM entry_phases WHERE project_id = ?", (project_id,))]
    task_phases = {r[0]: r[1] for r in db.execute(
        "SELECT task_id, phase_id FROM entry_tasks WHERE project_id = ? AND phase_id IS NOT NULL", (project_id,))}
    return fc.Facts(phases=phases, task_phases=task_phases)


def _phase(plan: fc.Facts, task_id, day) -> str | None:
    return fc.phase_of(plan, task_id, day) if plan.phases else None  # no phases: every hour is the project's


def _sums(row) -> tuple[tuple[str, str], tuple[int, int, int, int]]:
    """An entry's key in the actuals (project, phase or '') and what it adds: centi-hours, billable cents, one
    priced entry, unpriced centi-hours (as ``forecast._priced`` counts them)."""
    billable, rate = bool(row["billable"]), row["billing_rate"]
    return (row["project_id"], row["phase_id"] or ""), (
        row["centi"], row["billable_cents"] or 0, int(billable and rate is not None),
        row["centi"] if billable and rate is None else 0)


def _tally(db, event, changes):
    """Moves the actuals by ``changes`` [(entry row before or None, after or None)], snapshots at the event."""
    deltas: dict[tuple[str, str], list[int]] = {}
    for before, after in changes:
        for row, sign in ((before, -1), (after, 1)):
            if row is not None:
                key, sums = _sums(row)
                total = deltas.setdefault(key, [0, 0, 0, 0])
                for i, value in enumerate(sums):
                    total[i] += sign * value
    for (project_id, phase_id), delta in deltas.items():
        if not any(delta):
            continue
        db.execute("INSERT INTO actuals VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, phase_id) DO UPDATE SET"
                   " centi = centi + excluded.centi, billable_cents = billable_cents + excluded.billable_cents,"
                   " priced = priced + excluded.priced, unpriced_centi = unpriced_centi + excluded.unpriced_centi",
                   (project_id, phase_id, *delta))
        db.execute("INSERT INTO actuals_ledger SELECT ?, project_id, phase_id, centi, billable_cents, priced,"
                   " unpriced_centi FROM actuals WHERE project_id = ? AND phase_id = ?",
                   (event.position, project_id, phase_id))


def _actual_rows(db, project_id, as_of=None) -> list:
    """The project's running sums by phase, now or as of the event at position ``as_of``: one row a phase."""
    if as_of is None:
        return db.execute("SELECT * FROM actuals WHERE project_id = ?", (project_id,)).fetchall()
    rows = []
    for (phase_id,) in db.execute("SELECT phase_id FROM actuals WHERE project_id = ?", (project_id,)).fetchall():
        row = db.execute("SELECT * FROM actuals_ledger WHERE project_id = ? AND phase_id = ? AND position <= ?"
                         " ORDER BY position DESC, rowid DESC LIMIT 1", (project_id, phase_id, as_of)).fetchone()
        if row is not None:
            rows.append(row)
    return rows


def actuals(db, project_id, as_of=None) -> dict[str | None, fc.Actual]:
    """The hours logged on the project by phase (None: no phase) as ``forecast.actuals`` works them out from its
    entries, now or as of the event at position ``as_of``: a few rows, however many entries."""
    return {row["phase_id"] or None: fc.Actual(row["centi"], from_cents(row["billable_cents"]) if row["priced"]
                                               else None, row["unpriced_centi"])
            for row in _actual_rows(db, project_id, as_of)}


def used_centi(db, project_id, as_of=None) -> int:
    """Centi-hours logged on the project: now, or as of the event at position ``as_of``."""
    if as_of is None:
        row = db.execute("SELECT COALESCE(SUM(centi), 0) FROM time_entries WHERE project_id = ?", (project_id,))
    else:
        return sum(row["centi"] for row in _actual_rows(db, project_id, as_of))
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


def _priced(db, project_id, task_id, employee_id, day, centi_hours, billable):
    """(the rates in force on ``day``, billable cents, cost cents) of an entry: ``shared.money.price``."""
    rates = rates_for(db, project_id, task_id, employee_id, day) if day else {"billing_rate": None, "cost_rate": None}
    billable_amount, cost_amount = price(Decimal(centi_hours) / 100, billable, rates["billing_rate"],
                                         rates["cost_rate"])
    return rates, cents(billable_amount), cents(cost_amount)


def used_cents(db, project_id, as_of=None) -> int:
    """Billable cents logged on the project (what the money budget is used by): now, or as of the event at
    position ``as_of``."""
    if as_of is None:
        row = db.execute("SELECT COALESCE(SUM(billable_cents), 0) FROM time_entries WHERE project_id = ?",
                         (project_id,))
    else:
        return sum(row["billable_cents"] for row in _actual_rows(db, project_id, as_of))
    return row.fetchone()[0]


def project_figures(db, project_id) -> dict:
    """The sums of a project's entries, in centi-hours and cents: logged and approved hours, billable hours,
    revenue and cost, and the hours whose billing or cost rate is missing."""
    row = db.execute(
        "SELECT COALESCE(SUM(centi), 0) AS logged_centi,"
        " COALESCE(SUM(CASE WHEN approved THEN centi ELSE 0 END), 0) AS approved_centi,"
        " COALESCE(SUM(CASE WHEN billable THEN centi ELSE 0 END), 0) AS billable_centi,"
        " COALESCE(SUM(CASE WHEN approved AND billable THEN centi ELSE 0 END), 0) AS approved_billable_centi,"
        " COALESCE(SUM(billable_cents), 0) AS revenue_cents, COALESCE(SUM(cost_cents), 0) AS cost_cents,"
        " COALESCE(SUM(CASE WHEN approved THEN billable_cents ELSE 0 END), 0) AS approved_revenue_cents,"
        " COALESCE(SUM(CASE WHEN approved THEN cost_cents ELSE 0 END), 0) AS approved_cost_cents,"
        " COALESCE(SUM(CASE WHEN billable AND billing_rate IS NULL THEN centi ELSE 0 END), 0) AS unpriced_centi,"
        " COALESCE(SUM(CASE WHEN cost_rate IS NULL THEN centi ELSE 0 END), 0) AS uncosted_centi"
        " FROM time_entries WHERE project_id = ?", (project_id,)).fetchone()
    return dict(row)


def priced_entries(db, project_id) -> list[dict]:
    """The project's entries with their rates and amounts (strings with 2 decimals), by date."""
    from shared.money import as_str, from_cents

    return [{"entry_id": r["entry_id"], "week": r["week"], "employee_id": r["employee_id"],
             "task_id": r["task_id"], "date": r["date"], "hours": hours(r["centi"]), "billable": bool(r["billable"]),
             "approved": bool(r["approved"]), "billing_rate": r["billing_rate"], "cost_rate": r["cost_rate"],
             "billable_amount": as_str(from_cents(r["billable_cents"] or 0)),
             "cost_amount": as_str(from_cents(r["cost_cents"] or 0))}
            for r in db.execute("SELECT * FROM time_entries WHERE project_id = ? ORDER BY date, entry_id",
                                (project_id,))]
