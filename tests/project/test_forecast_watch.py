"""The forecast watch names the event that made the forecast cross, however far the read models have run ahead of it
(the principle of the budget watch): the figures are those as of the event it reacts to, never "now"."""
from services.project.domain import Project
from services.project.events import events as registry
from services.project.forecast_views import ForecastFactsView
from services.project.forecast_watch import ForecastWatchReactor
from services.project.projections import ProjectsView, TimeEntriesView
from shared.eventstore import ANY, NewEvent, open_store
from shared.handling import execute
from shared.projections import ProjectionRunner, ViewStore
from shared.reactors import ReactorRunner
from shared.state import DurableState

PROJECT, EMPLOYEE, WEEK = "p-1", "e-1", "2030-W10"
STREAM = f"timesheet~timesheet-{EMPLOYEE}_{WEEK.replace('-', '')}"


class Handle:
    """What the watch needs of ``self.chronicle``: the project's stream, queries on the read models and commands on
    the store; it notes which event each recorded crossing was caused by. Its config fixes no calendar."""

    config = {}

    def __init__(self, store, views, caused, event):
        self.store, self.views, self.caused, self.event = store, views, caused, event

    def stream(self, stream):
        return [registry.upcast(e) for e in self.store.read_stream(stream)]

    def query(self, fn):
        return self.views.read(fn)

    def execute(self, aggregate_cls, aggregate_id, decide, *, command_id=None):
        outcome = execute(self.store, registry, aggregate_cls, aggregate_id, decide, command_id=command_id)
        if not outcome.replayed:  # a replayed command returns its first events, appending nothing
            self.caused.extend((self.event.type, self.event.data.get("entry_id") or self.event.data.get("booking_id"),
                                e.type, e.data["forecast"]) for e in outcome.events)
        return outcome


def entry(entry_id, hours, day="2030-03-04"):
    return {"entry_id": entry_id, "employee_id": EMPLOYEE, "week": WEEK, "project_id": PROJECT, "task_id": None,
            "date": day, "hours": hours, "billable": True}


def test_each_crossing_is_caused_by_the_event_that_made_it_though_the_views_show_later_ones(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/events.db")
    views, state = ViewStore(str(tmp_path / "views.db")), DurableState(str(tmp_path / "state.db"))
    execute(store, registry, Project, PROJECT, lambda p: p.create(name="Quay", code="QUAY", manager_id="m-1",
                                                                   budget_centi=1000))
    store.append(STREAM, [NewEvent("TimeLogged", {**entry("first", 6), "description": ""}),
                          NewEvent("TimeLogged", {**entry("second", 6), "description": ""}),  # 12 of 10: over
                          NewEvent("TimeEntryDeleted", {**entry("second", 6), "reason": "wrong"}),  # 6: within
                          NewEvent("TimeLogged", {**entry("third", 5), "description": ""})], ANY)  # 11: over again
    store.append(f"resource~resource-{EMPLOYEE}", [NewEvent("ResourceBooked", {
        "resource_id": EMPLOYEE, "booking_id": "later", "project_id": PROJECT, "starts_on": "2999-12-02",
        "ends_on": "2999-12-02", "hours_per_day": 1, "tentative": False})], ANY)  # 12: still over, nothing new
    runner = ProjectionRunner(store, views, [ProjectsView(), TimeEntriesView(), ForecastFactsView()])
    watch = ReactorRunner(store, state, runner, [ForecastWatchReactor()])
    caused = []
    runner.run_once()  # the read models show every event before the watch sees the first
    watch.run_once(lambda _reactor, event: Handle(store, views, caused, event))
    assert caused == [("TimeLogged", "second", "ForecastOverBudget", "12.00"),
                      ("TimeEntryDeleted", "second", "ForecastBackWithinBudget", "6.00"),
                      ("TimeLogged", "third", "ForecastOverBudget", "11.00")]

    # At least once: a crash after the last crossing was recorded and before the checkpoint moved replays the events
    # after the checkpoint (saved after each event). Nothing new: the crossing's command id is the event's, and the
    # event after it measures the same state again.
    caused.clear()
    third = next(e for e in store.read_stream(STREAM) if e.data["entry_id"] == "third")
    state.save_checkpoint("reactor:forecast", third.position - 1)
    watch.run_once(lambda _reactor, event: Handle(store, views, caused, event))
    assert caused == []
    assert [e.type for e in store.read_stream(f"project-{PROJECT}")][1:] == [
        "ForecastOverBudget", "ForecastBackWithinBudget", "ForecastOverBudget"]
