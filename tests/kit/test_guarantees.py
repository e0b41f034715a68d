"""The kit's guarantees (DESIGN.md section 3) against real RabbitMQ and real SQLite files."""
import eventlet
import pytest

from shared.errors import Conflict, RuleViolation, ValidationError
from shared.eventstore import NO_STREAM, NewEvent, open_store
from shared.testing import dispatch, rpc_proxy, running, service_config, sign, wait_until
from tests.kit.sample import CounterService, FeedOnlyWatcherService, WatcherService


@pytest.fixture
def config(isolated_amqp_uri, tmp_path):
    return service_config(isolated_amqp_uri, tmp_path)


def counter_store(config):
    return open_store(f"sqlite:///{config['CHRONICLE_DATA_DIR']}/counter.events.db")


def test_errors_arrive_as_their_own_class_with_code(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        with pytest.raises(RuleViolation) as info:
            rpc.counter.increment(counter_id="c", by=0)
        assert info.value.code == "counter.not_positive"
        with pytest.raises(ValidationError) as info:
            rpc.counter.total(counter_id="c", min_position="soon")
        assert info.value.errors == {"min_position": ["Must be an integer."]}
        assert counter_store(config).read_all() == []  # refused commands append nothing


def test_command_id_makes_a_retry_return_the_first_result(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        first = rpc.counter.increment(counter_id="c", by=5, command_id="cmd-1")
        rpc.counter.increment(counter_id="c", by=1)
        again = rpc.counter.increment(counter_id="c", by=5, command_id="cmd-1")
        assert again == first
        events = counter_store(config).read_stream("counter-c")
        assert [e.data["by"] for e in events] == [5, 1]
        assert events[0].metadata["command_id"] == "cmd-1"
        assert events[0].metadata["correlation_id"] and events[0].metadata["causation_id"]


def test_a_command_id_reused_for_another_command_is_refused(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        rpc.counter.increment(counter_id="c", by=5, command_id="cmd-2")
        with pytest.raises(Conflict) as info:
            rpc.counter.increment_twice(counter_id="c", command_id="cmd-2")
        assert info.value.code == "command_id.reused"
        assert [e.metadata["command"] for e in counter_store(config).read_stream("counter-c")] == ["increment"]


def test_concurrent_commands_never_overwrite_each_other(config):
    with running(config, CounterService):
        pool = eventlet.GreenPool(20)

        def bump(i):
            # one proxy per caller: a standalone proxy must not be shared between greenlets
            with rpc_proxy(config) as rpc:
                results = []
                for _ in range(2):
                    try:
                        results.append(rpc.counter.increment(counter_id="hot", by=1)["value"])
                    except Conflict:
                        results.append(None)
                return results

        results = [r for batch in pool.imap(bump, range(20)) for r in batch]
        succeeded = [r for r in results if r is not None]
        events = counter_store(config).read_stream("counter-hot")
        assert len(events) == len(succeeded)
        assert [e.version for e in events] == list(range(len(events)))
        assert sorted(succeeded) == list(range(1, len(succeeded) + 1))  # each saw its own fresh state


def test_read_your_writes_with_min_position(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        for i in range(10):
            out = rpc.counter.increment(counter_id="ryw", by=1)
            assert rpc.counter.total(counter_id="ryw", min_position=out["position"]) == i + 1


def test_duplicate_delivery_has_one_effect(config):
    with running(config, WatcherService), rpc_proxy(config) as rpc:
        envelope = sign(config, {
            "id": "5f0e4a38-0a7b-4c4b-9d1e-3a3f2b1c0d01", "stream": "counter-dup", "version": 0, "position": 7,
            "type": "CounterIncremented", "schema_version": 2, "data": {"counter_id": "dup", "by": 3, "note": ""},
            "recorded_at": "2026-11-29T10:00:00+00:00", "metadata": {},
        })
        dispatch(config, "counter", "CounterIncremented", envelope)
        dispatch(config, "counter", "CounterIncremented", envelope)
        wait_until(lambda: rpc.watcher.seen())
        # a third copy, after the first two were certainly handled
        dispatch(config, "counter", "CounterIncremented", envelope)
        marker = sign(config, dict(envelope, id="5f0e4a38-0a7b-4c4b-9d1e-3a3f2b1c0d02", version=1, position=8))
        dispatch(config, "counter", "CounterIncremented", marker)
        wait_until(lambda: len(rpc.watcher.seen()) >= 2)
        seen = rpc.watcher.seen()
        assert [s["event_id"] for s in seen] == [envelope["id"], marker["id"]]


def test_late_consumer_catches_up_through_the_feed(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        for i in range(30):
            rpc.counter.increment(counter_id=f"burst-{i % 3}", by=1)
        # The watcher did not exist while these were published: its queue did not either.
        with running(config, WatcherService):
            wait_until(lambda: len(rpc.watcher.seen()) == 30, timeout=20)
            rpc.counter.increment(counter_id="burst-0", by=1)  # and live ones still arrive
            wait_until(lambda: len(rpc.watcher.seen()) == 31, timeout=20)
            assert len({s["event_id"] for s in rpc.watcher.seen()}) == 31


def test_projection_rebuilt_from_scratch_equals_the_live_one(config):
    with running(config, CounterService, WatcherService), rpc_proxy(config) as rpc:
        for i in range(12):
            rpc.counter.increment(counter_id=f"r{i % 4}", by=i + 1)
        wait_until(lambda: len(rpc.watcher.seen()) == 12)
        live, applied, drifted, rebuilt = rpc.watcher.rebuild()
        assert len(drifted) == 13  # a row no event explains...
        assert applied == 12  # ...is gone after a replay of the store...
        assert rebuilt == live and len(rebuilt) == 12  # ...to exactly the live state


def test_a_fact_not_yet_received_is_pulled_before_refusing(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, CATCHUP_INTERVAL=3600)
    with running(config, CounterService, FeedOnlyWatcherService), rpc_proxy(config) as rpc:
        with pytest.raises(RuleViolation) as info:
            rpc.feedwatcher.require_counter(counter_id="fresh")
        assert info.value.code == "counter.unknown"
        rpc.counter.increment(counter_id="fresh", by=1)
        # Immediately: no AMQP handler, and the periodic catch-up is an hour away.
        assert rpc.feedwatcher.require_counter(counter_id="fresh") == 1


def test_old_event_versions_are_upcast_on_read(config):
    store = counter_store(config)
    store.append("counter-old", [NewEvent("CounterIncremented", {"counter_id": "old", "by": 4}, schema_version=1)],
                 NO_STREAM)
    with running(config, CounterService), rpc_proxy(config) as rpc:
        out = rpc.counter.increment(counter_id="old", by=1)
        assert out["value"] == 5 and out["version"] == 1
        assert rpc.counter.total(counter_id="old", min_position=out["position"]) == 5


def test_a_fresh_check_sees_what_the_source_committed_before_it(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, CATCHUP_INTERVAL=3600)
    with running(config, CounterService, FeedOnlyWatcherService), rpc_proxy(config) as rpc:
        rpc.counter.increment(counter_id="f", by=1)
        assert rpc.feedwatcher.require_below(counter_id="f", limit=2) == 1
        rpc.counter.increment(counter_id="f", by=1)
        # without fresh, the stale local view passes the rule (no AMQP handler, no catch-up for an hour)...
        assert rpc.feedwatcher.require_below(counter_id="f", limit=2) == 1
        # ...with fresh, the source's feed is pulled first and the rule holds
        with pytest.raises(RuleViolation) as info:
            rpc.feedwatcher.require_below(counter_id="f", limit=2, fresh=True)
        assert info.value.code == "counter.limit"


def test_the_feed_refuses_unknown_and_loose_arguments(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        rpc.counter.increment(counter_id="feed", by=1)
        assert len(rpc.counter.events_since()["events"]) == 1
        for bad in ({"min_position": 0}, {"position": True}, {"position": 1.7}, {"limit": "5"}):
            with pytest.raises(ValidationError):
                rpc.counter.events_since(**bad)
