"""Reactors on real SQLite files: at-least-once from a checkpoint, after the read models, and a poison
event parked after bounded retries instead of stopping every later effect."""
import pytest

from shared.eventstore import ANY, NewEvent, open_store
from shared.projections import ProjectionRunner, ViewStore
from shared.reactors import Reactor, ReactorRunner
from shared.state import DurableState
from tests.kit.sample import Totals


class Recorder(Reactor):
    name = "recorder"

    def __init__(self, poison=None):
        self.seen, self.poison, self.tries = [], poison, 0

    def on_CounterIncremented(self, chronicle, event):
        if event.data["counter_id"] == self.poison:
            self.tries += 1
            raise RuntimeError("cannot handle this one")
        self.seen.append(event.data["counter_id"])


@pytest.fixture
def parts(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/events.db")
    views = ViewStore(str(tmp_path / "views.db"))
    runner = ProjectionRunner(store, views, [Totals()])
    return store, DurableState(str(tmp_path / "state.db")), runner


def increment(store, counter_id):
    store.append(f"counter-{counter_id}", [NewEvent("CounterIncremented", {"counter_id": counter_id, "by": 1,
                                                                           "note": ""}, schema_version=2)], ANY)


def test_reactors_see_events_only_after_the_read_models_and_once_per_checkpoint(parts):
    store, state, runner = parts
    recorder = Recorder()
    reactors = ReactorRunner(store, state, runner, [recorder])
    increment(store, "a")
    assert reactors.run_once(lambda *cause: None) == 0 and recorder.seen == []  # the views have not seen it yet
    runner.run_once()
    assert reactors.run_once(lambda *cause: None) == 1
    increment(store, "b")
    runner.run_once()
    reactors.run_once(lambda *cause: None)
    reactors.run_once(lambda *cause: None)
    assert recorder.seen == ["a", "b"]
    # a new runner (a restart) resumes from the stored checkpoint
    again = Recorder()
    ReactorRunner(store, state, runner, [again]).run_once(lambda *cause: None)
    assert again.seen == []


def test_a_poison_event_is_retried_then_parked_and_later_events_still_flow(parts):
    store, state, runner = parts
    recorder = Recorder(poison="bad")
    reactors = ReactorRunner(store, state, runner, [recorder], max_attempts=3)
    for counter_id in ("a", "bad", "c"):
        increment(store, counter_id)
    runner.run_once()
    for _ in range(2):
        with pytest.raises(RuntimeError):
            reactors.run_once(lambda *cause: None)
    assert recorder.seen == ["a"]  # held at the poison event while it may still succeed
    reactors.run_once(lambda *cause: None)  # third attempt: parked, and the reactor moves on
    assert recorder.seen == ["a", "c"] and recorder.tries == 3
    [failure] = reactors.failures()
    assert failure["event_type"] == "CounterIncremented" and failure["attempts"] == 3
    assert "cannot handle this one" in failure["error"]
    assert failure["kind"] == "reactor" and failure["reason"] == "handler_failed" and failure["envelope"]["id"]
