"""The lease (shared/leadership.py) on the real broker: one holder at a time, handed over when the holder goes,
and the next holder continues from the last holder's shared checkpoints, if they were taken on its store."""
import eventlet

from shared.eventstore import open_store
from shared.eventstore.base import ANY, NewEvent
from shared.leadership import Leadership
from shared.state import DurableState
from shared.testing import wait_until


def store_with_events(path, count):
    store = open_store(f"sqlite:///{path}")
    store.append("svc-1", [NewEvent(type="Happened", data={"n": n}) for n in range(count)], ANY)
    return store


def candidate(amqp_uri, tmp_path, name, store):
    state = DurableState(str(tmp_path / f"{name}.state.db"))
    leadership = Leadership("svc", amqp_uri, state, store, {"LEADER_RETRY_SECONDS": 0.2})
    return leadership, eventlet.spawn(leadership.hold)


def test_one_holder_at_a_time_and_the_next_continues_from_its_checkpoints(isolated_amqp_uri, tmp_path):
    store = store_with_events(tmp_path / "svc.events.db", 50)  # both replicas' store
    first, first_thread = candidate(isolated_amqp_uri, tmp_path, "first", store)
    wait_until(first.active.is_set, timeout=10, message="the first candidate leads")
    second, second_thread = candidate(isolated_amqp_uri, tmp_path, "second", store)
    try:
        first.state.save_checkpoint("relay:svc", 42)
        first.state.save_checkpoint("reactor:mailer", 40)
        first.state.save_checkpoint("consumer:other", 41)  # every replica records foreign events itself
        first.share()
        second.state.save_checkpoint("reactor:mailer", 44)  # ahead of the shared one: kept
        wait_until(lambda: second.attempts >= 3, timeout=10, message="the standby tries")
        assert not second.active.is_set()

        first_thread.kill()  # the holder's connection closes: the broker frees the lease
        assert not first.active.is_set()
        wait_until(second.active.is_set, timeout=10, message="the second candidate takes over")
        assert second.state.get_checkpoint("relay:svc") == 42
        assert second.state.get_checkpoint("reactor:mailer") == 44
        assert second.state.get_checkpoint("consumer:other") == 0
    finally:
        first_thread.kill()
        second_thread.kill()


def test_checkpoints_shared_on_another_store_are_not_adopted(isolated_amqp_uri, tmp_path):
    old = store_with_events(tmp_path / "old.events.db", 50)
    first, first_thread = candidate(isolated_amqp_uri, tmp_path, "first", old)
    wait_until(first.active.is_set, timeout=10)
    first.state.save_checkpoint("relay:svc", 42)
    first.share()
    first_thread.kill()
    # The same broker, a new store (wiped, or a test's fresh one) with as many events: adopting 42 would skip them.
    new = store_with_events(tmp_path / "new.events.db", 50)
    second, second_thread = candidate(isolated_amqp_uri, tmp_path, "second", new)
    try:
        wait_until(second.active.is_set, timeout=10)
        assert second.state.get_checkpoint("relay:svc") == 0
    finally:
        second_thread.kill()


def test_a_guarded_step_runs_only_in_the_holder(isolated_amqp_uri, tmp_path):
    store = store_with_events(tmp_path / "svc.events.db", 1)
    leader, leader_thread = candidate(isolated_amqp_uri, tmp_path, "leader", store)
    wait_until(leader.active.is_set, timeout=10)
    standby, standby_thread = candidate(isolated_amqp_uri, tmp_path, "standby", store)
    ran = []
    try:
        wait_until(lambda: standby.attempts >= 1, timeout=10, message="the standby tries")
        assert leader.guard(lambda: ran.append("leader") or 1)() == 1
        assert standby.guard(lambda: ran.append("standby") or 1)() == 0
        assert ran == ["leader"]
    finally:
        leader_thread.kill()
        standby_thread.kill()
