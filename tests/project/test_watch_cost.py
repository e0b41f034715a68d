"""The watches' work per hours event does not grow with the project: reacting to one more ``TimeLogged`` on a
budgeted project (hours and money budgets, a phase with its own, rates, a booking ahead) reads as many read-model
rows and prices as many hours with 1,000 entries logged as with 10. Counted, not timed."""
import pytest

from services.project import forecast as fc
from services.project.domain import Project
from services.project.events import events as registry
from services.project.forecast_views import ForecastFactsView
from services.project.forecast_watch import ForecastWatchReactor
from services.project.projections import ProjectsView, TimeEntriesView
from services.project.reactors import BudgetWatch
from shared.eventstore import ANY, NewEvent, open_store
from shared.handling import execute
from shared.projections import ProjectionRunner, ViewStore
from shared.reactors import ReactorRunner
from shared.state import DurableState

PROJECT, STREAM = "p-1", "timesheet~timesheet-e-1_2030W10"
PRICE = fc.amount


class Rows:
    """A read-model connection that counts the rows its queries return."""

    def __init__(self, conn, counts):
        self.conn, self.counts = conn, counts

    def execute(self, sql, params=()):
        return _Cursor(self.conn.execute(sql, params), self.counts)


class _Cursor:
    def __init__(self, cursor, counts):
        self.cursor, self.counts = cursor, counts

    def __iter__(self):
        for row in self.cursor:
            self.counts["rows"] += 1
            yield row

    def fetchone(self):
        row = self.cursor.fetchone()
        self.counts["rows"] += row is not None
        return row

    def fetchall(self):
        rows = self.cursor.fetchall()
        self.counts["rows"] += len(rows)
        return rows


class Handle:
    config = {}

    def __init__(self, store, views, counts):
        self.store, self.views, self.counts = store, views, counts

    def stream(self, stream):
        return [registry.upcast(e) for e in self.store.read_stream(stream)]

    def query(self, fn):
        return self.views.read(lambda conn: fn(Rows(conn, self.counts)))

    def execute(self, aggregate_cls, aggregate_id, decide, *, command_id=None):
        return execute(self.store, registry, aggregate_cls, aggregate_id, decide, command_id=command_id)


def logged(i):
    return NewEvent("TimeLogged", {
        "entry_id": f"x-{i}", "employee_id": "e-1", "week": "2030-W10", "project_id": PROJECT,
        "task_id": "t-1" if i % 3 == 0 else None, "date": f"2030-03-{1 + i % 28:02d}", "hours": 0.25,
        "billable": i % 4 != 0, "description": ""})


def plan(p):
    p.create(name="Quay", code="QUAY", manager_id="m-1", budget_centi=10**9, budget_amount="99999999.00",
             hourly_rate="1000.00")
    p.add_phase("ph-1", "Design", starts_on="2030-03-01", ends_on="2030-03-07", budget_centi=10**8)
    p.add_task("t-1", "Build", phase_id="ph-1")
    p.set_rate("project", None, "1100.00", "2030-03-10")


def reacting_to_one_more(tmp_path, entries, monkeypatch) -> dict:
    store = open_store(f"sqlite:///{tmp_path}/events.db")
    views, state = ViewStore(str(tmp_path / "views.db")), DurableState(str(tmp_path / "state.db"))
    execute(store, registry, Project, PROJECT, plan)
    store.append("resource~resource-e-1", [NewEvent("ResourceBooked", {
        "resource_id": "e-1", "booking_id": "b-1", "project_id": PROJECT, "starts_on": "2999-12-01",
        "ends_on": "2999-12-03", "hours_per_day": 2, "tentative": False})], ANY)
    store.append(STREAM, [logged(i) for i in range(entries)], ANY)
    runner = ProjectionRunner(store, views, [ProjectsView(), TimeEntriesView(), ForecastFactsView()])
    reactors = ReactorRunner(store, state, runner, [BudgetWatch(), ForecastWatchReactor()])
    runner.run_once()
    for reactor in reactors.reactors:  # what came before is the past: react to the next event only
        state.save_checkpoint(reactors.checkpoint_name(reactor), store.head_position())
    store.append(STREAM, [logged(entries)], ANY)
    runner.run_once()
    counts = {"rows": 0, "priced": 0}

    def amount(hours, rate):
        counts["priced"] += 1
        return PRICE(hours, rate)

    monkeypatch.setattr(fc, "amount", amount)  # the forecast's pricing of an hour (an entry, a booked day)
    assert reactors.run_once(lambda _reactor, _event: Handle(store, views, counts)) == 2  # both watches reacted
    return counts


def test_one_more_hour_logged_costs_the_same_with_10_or_1000_entries(tmp_path, monkeypatch):
    (tmp_path / "small").mkdir(), (tmp_path / "large").mkdir()
    small = reacting_to_one_more(tmp_path / "small", 10, monkeypatch)
    large = reacting_to_one_more(tmp_path / "large", 1000, monkeypatch)
    assert small["rows"] > 0 and small["priced"] > 0
    assert large == small


@pytest.fixture(autouse=True)
def _no_fixed_calendar(monkeypatch):
    monkeypatch.delenv("PROJECT_FIXED_NOW", raising=False)
