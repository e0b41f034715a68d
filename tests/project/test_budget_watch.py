"""The budget watch names the entry that crossed a threshold, however far the read models have run ahead of it.

Reactors act on an event once the read models show it, and the read models may already show later events too
(they catch up in batches). The hours the watch uses must be those as of the event it reacts to; otherwise which
entry "crossed" 50% depends on timing, and the audit trail differs from one run to the next."""
from services.project.domain import Project
from services.project.events import events as registry
from services.project.projections import ProjectsView, TimeEntriesView
from services.project.reactors import BudgetWatch
from shared.eventstore import ANY, NewEvent, open_store
from shared.handling import execute
from shared.projections import ProjectionRunner, ViewStore
from shared.reactors import ReactorRunner
from shared.state import DurableState

PROJECT, EMPLOYEE, WEEK = "p-1", "e-1", "2030-W10"


class Handle:
    """What a reactor needs of ``self.chronicle``: queries on the read models and commands on the store; it notes
    which event each command was caused by."""

    def __init__(self, store, views, caused, event):
        self.store, self.views, self.caused, self.event = store, views, caused, event

    def query(self, fn):
        return self.views.read(fn)

    def execute(self, aggregate_cls, aggregate_id, decide, *, command_id=None):
        outcome = execute(self.store, registry, aggregate_cls, aggregate_id, decide, command_id=command_id)
        self.caused.extend((self.event.data.get("entry_id"), e.type, e.data.get("threshold")) for e in outcome.events)
        return outcome


def log(store, entry_id, hours, day):
    store.append(f"timesheet~timesheet-{EMPLOYEE}_{WEEK.replace('-', '')}", [NewEvent("TimeLogged", {
        "entry_id": entry_id, "employee_id": EMPLOYEE, "week": WEEK, "project_id": PROJECT, "task_id": None,
        "date": day, "hours": hours, "billable": True, "description": ""})], ANY)


def test_the_threshold_is_caused_by_the_entry_that_crossed_it_though_the_views_show_later_ones(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/events.db")
    views, state = ViewStore(str(tmp_path / "views.db")), DurableState(str(tmp_path / "state.db"))
    execute(store, registry, Project, PROJECT, lambda p: p.create(name="Quay", code="QUAY", manager_id="m-1",
                                                                   budget_centi=2000))
    runner = ProjectionRunner(store, views, [ProjectsView(), TimeEntriesView()])
    watch = ReactorRunner(store, state, runner, [BudgetWatch()])
    caused = []
    for entry_id, day in (("first", "2030-03-04"), ("second", "2030-03-05"), ("third", "2030-03-06")):
        log(store, entry_id, "4", day)  # 4, 8, 12 of 20 h: the third entry crosses 50%
    runner.run_once()  # the read models show all three entries before the watch sees the first
    watch.run_once(lambda _reactor, event: Handle(store, views, caused, event))
    assert caused == [("third", "BudgetThresholdReached", 50)]


def test_the_money_threshold_is_caused_by_the_entry_that_crossed_it_too(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/events.db")
    views, state = ViewStore(str(tmp_path / "views.db")), DurableState(str(tmp_path / "state.db"))
    execute(store, registry, Project, PROJECT, lambda p: p.create(name="Quay", code="QUAY", manager_id="m-1",
                                                                   budget_amount="1000.00", hourly_rate="100.00"))
    runner = ProjectionRunner(store, views, [ProjectsView(), TimeEntriesView()])
    watch = ReactorRunner(store, state, runner, [BudgetWatch()])
    caused = []
    for entry_id, day in (("first", "2030-03-04"), ("second", "2030-03-05"), ("third", "2030-03-06")):
        log(store, entry_id, "4", day)  # 400.00, 800.00, 1200.00 of 1000.00
    runner.run_once()
    watch.run_once(lambda _reactor, event: Handle(store, views, caused, event))
    assert caused == [("second", "BudgetThresholdReached", 50), ("second", "BudgetThresholdReached", 80),
                      ("third", "BudgetThresholdReached", 100)]
