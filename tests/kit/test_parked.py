"""Parked events in a running service: a projection and a reactor that cannot take one event park it and go on,
and `chronicle parked retry` (which only marks the entries in the durable state, from any process) makes the
running service apply them once the code is fixed."""
from nameko.rpc import rpc

from shared.config import state_path
from shared.eventstore import ANY, NewEvent
from shared.kit import Chronicle
from shared.reactors import Reactor
from shared.state import DurableState
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.kit.sample import Totals, events
from tests.kit.test_projections import Fragile


class Greeter(Reactor):
    """Acts on every counter event, except the bad one until it is fixed."""

    name = "greeter"
    fixed = False
    greeted: list = []

    def on_CounterIncremented(self, chronicle, event):
        if event.data["counter_id"] == "bad" and not Greeter.fixed:
            raise RuntimeError("cannot greet this one")
        Greeter.greeted.append(event.data["counter_id"])


class FragileService:
    name = "fragile"
    chronicle = Chronicle(categories=["counter"], events=events, projections=lambda: [Fragile(), Totals()],
                          reactors=lambda: [Greeter()])

    @rpc
    def increment(self, counter_id):
        self.chronicle.append(f"counter-{counter_id}", [NewEvent(
            "CounterIncremented", {"counter_id": counter_id, "by": 1, "note": ""}, schema_version=2)], ANY)

    @rpc
    def fragile(self):
        return self.chronicle.query(lambda db: sorted(r[0] for r in db.execute("SELECT counter_id FROM fragile")))


def test_parked_events_are_retried_by_the_running_service_once_fixed(isolated_amqp_uri, tmp_path, monkeypatch):
    monkeypatch.setattr(Fragile, "fixed", False)
    monkeypatch.setattr(Greeter, "fixed", False)
    monkeypatch.setattr(Greeter, "greeted", [])
    config = service_config(isolated_amqp_uri, tmp_path, POLL_INTERVAL=0.05)
    with running(config, FragileService), rpc_proxy(config) as rpc:
        for counter_id in ("a", "bad", "c"):
            rpc.fragile.increment(counter_id=counter_id)
        operator = DurableState(state_path("fragile", config))  # what `chronicle parked` opens
        parked = wait_until(lambda: len(rows := operator.parked()) == 2 and rows, timeout=20,
                            message="the bad event parked by the projection and by the reactor")
        assert {(r["kind"], r["name"]) for r in parked} == {("projection", "fragile"), ("reactor", "greeter")}
        assert rpc.fragile.fragile() == ["a", "c"]  # the projection went on past it...
        wait_until(lambda: Greeter.greeted == ["a", "c"], timeout=10)  # ...and so did the reactor
        assert operator.request_retry() == 2  # not fixed yet: tried again, still parked, the error recorded
        wait_until(lambda: not any(r["retry_requested"] for r in operator.parked()), timeout=10)
        assert [r["attempts"] for r in operator.parked()] == [6, 6] and rpc.fragile.fragile() == ["a", "c"]
        Fragile.fixed = Greeter.fixed = True  # the fix is deployed
        assert operator.request_retry() == 2
        wait_until(lambda: operator.parked() == [], timeout=10, message="the retried entries resolved")
        assert rpc.fragile.fragile() == ["a", "bad", "c"] and Greeter.greeted == ["a", "c", "bad"]
        assert len(operator.parked(include_resolved=True)) == 2
        rpc.fragile.increment(counter_id="d")
        wait_until(lambda: rpc.fragile.fragile() == ["a", "bad", "c", "d"], timeout=10)


def test_consumer_entries_go_to_the_consumers_retry_when_it_has_one(tmp_path, monkeypatch):
    kit = Chronicle(categories=["counter"], events=events, projections=lambda: [Totals()])
    kit.open("counter", {"CHRONICLE_DATA_DIR": str(tmp_path)})
    for event_id in ("settles", "differs"):
        kit.state.park("consumer", "project", event_id=event_id, stream=f"project-{event_id}",
                       reason="version_conflict", error="another event at this version")
    kit.state.request_retry()
    monkeypatch.delattr(type(kit.consumer), "retry_parked", raising=False)
    assert kit.retry_parked_events() == 0  # a consumer that cannot retry: said so, the entries stay parked
    assert {r["error"] for r in kit.state.parked()} == {"this version cannot retry consumer entries"}
    monkeypatch.setattr(kit.consumer, "retry_parked", lambda row: row["event_id"] == "settles", raising=False)
    kit.state.request_retry()
    assert kit.retry_parked_events() == 1
    [left] = kit.state.parked()
    assert left["event_id"] == "differs" and left["error"].startswith("not settled") and not left["retry_requested"]
