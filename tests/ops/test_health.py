"""Readiness means something: it fails while the store does not answer or the relay is stuck."""
import time

from shared.events import EventRegistry
from shared.eventstore.base import NO_STREAM, NewEvent
from shared.kit import Chronicle
from shared.observe import liveness, readiness


def kit_for(tmp_path, **config):
    kit = Chronicle(categories=["thing"], events=EventRegistry())
    kit.open("things", {"CHRONICLE_DATA_DIR": str(tmp_path), "AMQP_URI": "amqp://guest:guest@127.0.0.1:1/",
                        **config})
    return kit


def test_readiness_fails_while_the_relay_is_behind_without_progress(tmp_path):
    kit = kit_for(tmp_path, RELAY_STUCK_SECONDS=0.3, LEADER_ELECTION="false")  # one instance: it relays
    ready, body = readiness(kit)
    assert ready and body["relay"] == {"checkpoint": 0, "head": 0, "stuck": False}
    kit.store.append("thing-1", [NewEvent(type="ThingMade", data={})], NO_STREAM)
    try:
        kit.relay.run_once()  # the broker is not there: nothing is published, the checkpoint stays
    except Exception:
        pass
    assert readiness(kit)[0], "behind for less than RELAY_STUCK_SECONDS is not stuck yet"
    time.sleep(0.4)
    ready, body = readiness(kit)
    assert not ready and body["relay"]["stuck"] and body["relay"]["head"] > body["relay"]["checkpoint"]
    kit.state.save_checkpoint(kit.relay.checkpoint_name, kit.store.head_position(["thing"]))  # it caught up
    assert readiness(kit)[0]


def test_a_standby_replica_is_ready_although_its_relay_stands_still(tmp_path):
    kit = kit_for(tmp_path, RELAY_STUCK_SECONDS=0.1)  # election on, lease not held: a standby
    kit.store.append("thing-1", [NewEvent(type="ThingMade", data={})], NO_STREAM)
    assert readiness(kit)[0]
    time.sleep(0.2)
    ready, body = readiness(kit)
    assert ready and body["active"] is False and body["relay"]["head"] > body["relay"]["checkpoint"]
    kit.leadership.active.set()  # it takes the lease, and then its relay must move
    readiness(kit)
    time.sleep(0.2)
    assert not readiness(kit)[0]


def test_readiness_fails_while_the_store_does_not_answer(tmp_path):
    kit = kit_for(tmp_path, EVENTSTORE_URI="kurrentdb://127.0.0.1:1?Tls=false")
    ready, body = readiness(kit)
    assert not ready and body["store"].startswith("unreachable")


def test_liveness_fails_when_a_loop_stops_coming_round(tmp_path):
    kit = kit_for(tmp_path, LIVENESS_SECONDS=0.1, CATCHUP_INTERVAL=0.01)
    kit._running, kit.beats = True, {"relay": time.monotonic(), "projections": time.monotonic()}
    assert liveness(kit)[0]
    time.sleep(0.2)
    alive, body = liveness(kit)
    assert not alive and set(body["wedged"]) == {"relay", "projections"}
