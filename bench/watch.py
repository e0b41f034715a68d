"""The project service's reactors on hours logged, in one process: CPU milliseconds per ``TimeLogged`` that the
forecast watch and the budget watch spend together (and how many hours the forecast prices per event), and what
the read models spend to apply it, for a budgeted project (hours and money, two phases with budgets, rates,
bookings) with few entries and with many. The small project is the baseline beside the large one: the cost per
event should not grow with the project.

``python -m bench.watch [--entries 2000] [--events 100]``
"""
from __future__ import annotations

import argparse
import tempfile
import time

from bench.platform import report
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

PROJECT = "p-bench"
PEOPLE = [f"e-{i}" for i in range(5)]


class Handle:
    config: dict = {}

    def __init__(self, store, views):
        self.store, self.views = store, views

    def stream(self, stream):
        return [registry.upcast(e) for e in self.store.read_stream(stream)]

    def query(self, fn):
        return self.views.read(fn)

    def execute(self, aggregate_cls, aggregate_id, decide, *, command_id=None):
        return execute(self.store, registry, aggregate_cls, aggregate_id, decide, command_id=command_id)


def _entry(i):
    person = PEOPLE[i % len(PEOPLE)]
    day = f"2030-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d}"
    return person, {"entry_id": f"x-{i}", "employee_id": person, "week": "2030-W01", "project_id": PROJECT,
                    "task_id": "t-build" if i % 3 == 0 else None, "date": day, "hours": 1.25,
                    "billable": i % 5 != 0, "description": ""}


def _project(p):
    p.create(name="Bench", code="BENCH", manager_id="m-1", budget_centi=10**9, budget_amount="999999999.00",
             hourly_rate="1000.00", starts_on="2030-01-01", ends_on="2031-12-31")
    p.add_phase("ph-1", "Design", starts_on="2030-01-01", ends_on="2030-06-30", budget_centi=10**8)
    p.add_phase("ph-2", "Build", starts_on="2030-07-01", ends_on="2031-12-31", budget_amount="99999999.00")
    p.add_task("t-build", "Build it", phase_id="ph-2")
    p.assign_member(PEOPLE[0], hourly_rate="1200.00")
    p.set_rate("project", None, "1100.00", "2030-05-01")


def run(entries: int, events: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/events.db")
        views, state = ViewStore(f"{tmp}/views.db"), DurableState(f"{tmp}/state.db")
        execute(store, registry, Project, PROJECT, _project)
        for i, person in enumerate(PEOPLE[:3]):
            store.append(f"resource~resource-{person}", [NewEvent("ResourceBooked", {
                "resource_id": person, "booking_id": f"b-{i}", "project_id": PROJECT, "starts_on": "2031-01-06",
                "ends_on": "2031-03-28", "hours_per_day": 4, "tentative": i == 2})], ANY)
        for i in range(entries):
            person, data = _entry(i)
            store.append(f"timesheet~timesheet-{person}_2030W01", [NewEvent("TimeLogged", data)], ANY)
        runner = ProjectionRunner(store, views, [ProjectsView(), TimeEntriesView(), ForecastFactsView()])
        reactors = ReactorRunner(store, state, runner, [BudgetWatch(), ForecastWatchReactor()])
        runner.run_once()
        for reactor in reactors.reactors:  # the filled project is the past: react to the new events only
            state.save_checkpoint(reactors.checkpoint_name(reactor), store.head_position())
        for i in range(entries, entries + events):
            person, data = _entry(i)
            store.append(f"timesheet~timesheet-{person}_2030W01", [NewEvent("TimeLogged", data)], ANY)
        projected = time.process_time()
        assert runner.run_once() == 2 * events  # the time entries and the forecast facts apply each
        projected = time.process_time() - projected
        priced = [0]

        def counted(hours, rate, _amount=fc.amount):
            priced[0] += 1
            return _amount(hours, rate)

        fc.amount = counted  # the forecast's pricing of an hour (an entry, a booked day)
        try:
            cpu = time.process_time()
            reacted = reactors.run_once(lambda _reactor, _event: Handle(store, views))
            cpu = time.process_time() - cpu
        finally:
            fc.amount = counted.__defaults__[0]
        return {"entries": entries, "reacted": reacted, "cpu_ms_per_event": 1000 * cpu / events,
                "read_models_cpu_ms_per_event": 1000 * projected / events,
                "priced_per_event": priced[0] / events}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args(argv)
    small, large = run(20, args.events), run(args.entries, args.events)
    per_second = {n: 1000 / row["cpu_ms_per_event"] for n, row in (("small", small), ("large", large))}
    report("watch", f"The forecast and budget watches on a budgeted project, {args.events} TimeLogged reacted to,"
                    " CPU in this process",
           [("reacted to, 20 entries in the project (baseline), per CPU second", per_second["small"], None, None),
            (f"reacted to, {args.entries:,} entries in the project, per CPU second", per_second["large"], None, None)],
           {f"CPU per event, {args.entries:,} / 20 entries": large["cpu_ms_per_event"] / small["cpu_ms_per_event"]},
           extra={"small": small, "large": large})
    print("hours priced per event: " + ", ".join(f"{row['entries']} entries {row['priced_per_event']:.0f}"
                                                 for row in (small, large)))


if __name__ == "__main__":
    main()
