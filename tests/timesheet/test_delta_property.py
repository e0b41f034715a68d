"""The delta export's promise, as a property (hypothesis), at the domain and read-model level with no service: over
random sequences of logs, amends, moves, deletions, submissions, approvals, rejections, reopenings, locks,
corrections, late entries and invoicing marks, an integration that applies every delta page in order (add, reverse,
replace by entry id) ends with exactly the lines, and so the totals, of a full export. Each command is decided by
the real aggregates (``domain.py``), its events go through the real projection (``TimesheetsView``) on an in-memory
SQLite read model, and the exports are read by ``exports.py``."""
import sqlite3
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.timesheet import exports
from services.timesheet.domain import PeriodLock, ProjectFacts, TaskFacts, Timesheet, timesheet_id
from services.timesheet.events import events
from services.timesheet.projections import ProjectFactsView, TimesheetsView
from shared.errors import ChronicleError
from shared.eventstore.base import RecordedEvent
from shared.rates import RatesView
from shared.validation import week_of

EMPLOYEES = ("e-ann", "e-bob")
MGR, P, T = "m-mia", "p-quay", "t-design"
DAYS = ("2026-02-23", "2026-02-26", "2026-02-28", "2026-03-01", "2026-03-02", "2026-03-04")  # W09 and W10
LOCKS = ("2026-02-24", "2026-02-28", "2026-03-01", "2026-03-03")
FACTS = ProjectFacts(project_id=P, code="QUAY", name="Quay", manager_id=MGR, members=set(EMPLOYEES),
                     tasks={T: TaskFacts(T, "Design", billable=True)})


class World:
    """The timesheet service without a service: streams in memory, one read model, positions in order."""

    def __init__(self):
        self.streams: dict[str, list] = {}
        self.position = 0
        self.db = sqlite3.connect(":memory:")
        self.db.row_factory = sqlite3.Row
        self.views = [ProjectFactsView(), TimesheetsView(), RatesView()]
        for view in self.views:
            view.setup(self.db)
        self.entries: list[str] = []
        self.serial = 0
        self.feed("project-" + P, "ProjectCreated", {
            "project_id": P, "name": "Quay", "code": "QUAY", "manager_id": MGR, "customer": "=HYPERLINK(1)",
            "starts_on": None, "ends_on": None, "billable": True, "budget_hours": None, "budget_amount": None,
            "currency": "NOK", "hourly_rate": None})
        self.feed("project-" + P, "TaskAdded", {"project_id": P, "task_id": T, "name": "Design",
                                                "estimate_hours": None, "billable": True})
        for e in EMPLOYEES:
            self.feed("project-" + P, "MemberAssigned", {"project_id": P, "employee_id": e, "project_code": "QUAY",
                                                         "project_name": "Quay", "role": "x", "hourly_rate": None})

    def feed(self, stream, type, data):
        events_ = self.streams.setdefault(stream, [])
        self.position += 1
        event = RecordedEvent(id=str(self.position), stream=stream, version=len(events_), position=self.position,
                              type=type, schema_version=events.current_version(type) if type in events.types() else 1,
                              data=data, recorded_at=datetime(2026, 3, 3, tzinfo=timezone.utc), metadata={})
        events_.append(event)
        for view in self.views:
            if view.handles(type):
                view.apply(self.db, event)

    def load(self, cls, id):
        return cls.rebuild(id, self.streams.get(f"{cls.category}-{id}", []))

    def run(self, cls, id, decide):
        aggregate = self.load(cls, id)
        try:
            decide(aggregate)
        except ChronicleError:
            return False
        for event in aggregate.pending:
            self.feed(aggregate.stream, event.type, event.data)
        return True

    @property
    def lock(self):
        return self.load(PeriodLock, "global").locked_through

    def week_of_entry(self, entry_id):
        where = self.db.execute("SELECT employee_id, week FROM ts_entries WHERE entry_id = ?", (entry_id,)).fetchone()
        return where and timesheet_id(where[0], where[1])

    def new_entry(self):
        self.serial += 1
        return f"entry-{self.serial}"

    # -- the commands, as the handlers order them ----------------------------------------------------------
    def apply(self, op):
        kind, who, day, n, h = op
        emp, lock = EMPLOYEES[who], self.lock
        entry = self.entries[n % len(self.entries)] if self.entries else None
        week_id = timesheet_id(emp, week_of(day))
        if kind == "log":
            entry_id = self.new_entry()
            if self.run(Timesheet, week_id, lambda ts: ts.log(entry_id, FACTS, day, h, task_id=T, locked_through=lock)):
                self.entries.append(entry_id)
        elif kind == "late":
            entry_id = self.new_entry()
            if self.run(Timesheet, week_id, lambda ts: ts.add_late(entry_id, FACTS, day, h, "late",
                                                                     booked_on="2026-03-05", locked_through=lock)):
                self.entries.append(entry_id)
        elif entry is not None and kind in ("amend", "delete", "correct", "invoice", "move"):
            ts_id = self.week_of_entry(entry)
            if kind == "amend":
                self.run(Timesheet, ts_id, lambda ts: ts.amend(entry, FACTS, {"hours": h}, locked_through=lock))
            elif kind == "delete":
                self.run(Timesheet, ts_id, lambda ts: ts.delete(entry, locked_through=lock))
            elif kind == "correct":
                self.run(Timesheet, ts_id, lambda ts: ts.correct(entry, FACTS, {"hours": h % 500}, "fix",
                                                                 booked_on="2026-03-05", locked_through=lock))
            elif kind == "invoice":
                self.run(Timesheet, ts_id, lambda ts: ts.invoice([entry], f"INV-{n % 3}"))
            else:  # a move to another week: out of the old week, into the new one (shared.process.Transfer)
                old = self.load(Timesheet, ts_id)
                if entry not in old.entries:
                    return
                state = old.entries[entry]
                target = timesheet_id(state["employee_id"], week_of(day))
                if week_of(day) == old.week:
                    return
                try:  # both weeks would take it, checked before anything is written (as handlers.amend_entry)
                    self.load(Timesheet, ts_id).delete(entry, locked_through=lock, moved_to_week=week_of(day))
                    self.load(Timesheet, target).log(entry, FACTS, day, state["hours"], task_id=T,
                                                     locked_through=lock, moved_from_week=old.week)
                except ChronicleError:
                    return
                if self.run(Timesheet, ts_id, lambda ts: ts.delete(entry, locked_through=lock,
                                                                   moved_to_week=week_of(day))):
                    assert self.run(Timesheet, target, lambda ts: ts.log(
                        entry, FACTS, day, state["hours"], task_id=T, billable=state["billable"],
                        locked_through=lock, moved_from_week=old.week))
        elif kind == "submit":
            self.run(Timesheet, week_id, lambda ts: ts.submit({P: MGR}))
        elif kind == "approve":
            self.run(Timesheet, week_id, lambda ts: ts.approve(MGR, {P: None}, at="2026-03-05T09:00:00+00:00"))
        elif kind == "reject":
            self.run(Timesheet, week_id, lambda ts: ts.reject(MGR, {P: None}, "no"))
        elif kind == "reopen":
            self.run(Timesheet, week_id, lambda ts: ts.reopen(MGR, "again", locked_through=lock))
        elif kind == "lock":
            self.run(PeriodLock, "global", lambda pl: pl.lock(LOCKS[n % len(LOCKS)], "admin",
                                                              today=datetime(2026, 3, 5).date()))


class Integration:
    """Payroll or invoicing: applies each delta row by entry id, and checks the rows make sense as it goes."""

    def __init__(self, status):
        self.status, self.cursor, self.lines = status, exports.START, {}

    def pull(self, db, limit):
        while True:
            page = exports.delta(db, self.cursor, limit, self.status)
            again = exports.delta(db, self.cursor, limit, self.status)
            if page["more"]:
                assert again == page, "the same cursor gave other rows"
            expecting_replace = None
            for row in page["rows"]:
                line = {k: v for k, v in row.items() if k != "action"}
                entry_id = row["entry_id"]
                if row["action"] == "add":
                    assert entry_id not in self.lines, "an add is for a line the integration does not have"
                    self.lines[entry_id] = line
                elif row["action"] == "reverse":
                    assert self.lines.pop(entry_id) == line, "a reverse takes back exactly the line that was sent"
                    expecting_replace = entry_id
                    continue
                else:
                    assert row["action"] == "replace" and expecting_replace == entry_id
                    self.lines[entry_id] = line
                expecting_replace = None
            self.cursor = page["next"]
            if not page["more"]:
                return


OPS = st.tuples(
    st.sampled_from(("log", "log", "amend", "delete", "move", "submit", "approve", "approve", "reject", "reopen",
                     "lock", "correct", "correct", "invoice", "late", "pull")),
    st.integers(0, len(EMPLOYEES) - 1), st.sampled_from(DAYS), st.integers(0, 50), st.integers(25, 800))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=40), status=st.sampled_from(("approved", "all")), limit=st.integers(1, 7))
def test_applying_every_delta_in_order_ends_with_the_full_export(ops, status, limit):
    world, integration = World(), Integration(status)
    for op in ops:
        if op[0] == "pull":
            integration.pull(world.db, limit)
        else:
            world.apply(op)
    integration.pull(world.db, limit)
    full = exports.export_rows(world.db, "1900-01-01", "2999-12-31", status)
    assert integration.lines == {row["entry_id"]: row for row in full}
    total = sum((Decimal(str(r["hours"])) for r in full), Decimal(0))
    assert sum((Decimal(str(r["hours"])) for r in integration.lines.values()), Decimal(0)) == total
    rebuilt = exports.delta(world.db, exports.START, 10_000, status)  # one pass from the start: the same lines
    from_start = Integration(status)
    from_start.pull(world.db, 10_000)
    assert from_start.lines == integration.lines and not rebuilt["more"]
