"""The consumer's feed cursor moves on the fast path (shared/consumer.py): an event taken from AMQP whose
``previous`` (named by the relay) the cursor has reached moves it to the event's position, and deliveries taken
out of order join up once the gap closes. So the periodic pull does not read every event a second time, and a
caller's ``seen`` token is met without a pull."""
import pytest

from shared.consumer import RECORDED, REJECTED, Consumer
from shared.eventstore import open_store
from shared.signing import Signer
from shared.state import DurableState
from shared.testing import TEST_SIGNING_KEY
from tests.kit.sample import events

SIGNER = Signer(TEST_SIGNING_KEY)


def delivered(position, previous, counter_id=None):
    """What the relay publishes: an event of its own stream (version 0, so no gap), chained to ``previous``."""
    counter_id = counter_id or f"c{position}"
    envelope = {
        "id": f"00000000-0000-4000-8000-{position:012d}", "stream": f"counter-{counter_id}", "version": 0,
        "position": position, "type": "CounterIncremented", "schema_version": 2,
        "data": {"counter_id": counter_id, "by": 1, "note": ""}, "recorded_at": "2026-12-01T10:00:00+00:00",
        "metadata": {"actor": "u1"},
    }
    if previous is not None:
        envelope["previous"] = previous
    return SIGNER.sign(envelope)


@pytest.fixture
def consumer(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/watcher.events.db")
    state = DurableState(str(tmp_path / "watcher.state.db"))
    return Consumer("watcher", store, state, {"counter": ["counter"]}, {}, signer=SIGNER,
                    registries={"counter": events}, rpc_timeout=0.5)


def test_events_taken_in_order_move_the_cursor_and_it_is_saved(consumer):
    assert consumer.recorded_through("counter") == 0
    for position, previous in ((3, 0), (5, 3), (9, 5)):  # positions between them are other categories' events
        assert consumer.receive("counter", delivered(position, previous)) == RECORDED
    assert consumer.recorded_through("counter") == 9
    consumer.close()  # saved at most once a second while running, and on the way out
    assert consumer.state.get_checkpoint(consumer.checkpoint_name("counter")) == 9


def test_deliveries_taken_out_of_order_join_up_once_the_gap_closes(consumer):
    consumer.receive("counter", delivered(3, 0))
    consumer.receive("counter", delivered(9, 5))  # 5 is not taken yet: the cursor cannot pass it
    consumer.receive("counter", delivered(12, 9))
    assert consumer.recorded_through("counter") == 3
    consumer.receive("counter", delivered(5, 3))
    assert consumer.recorded_through("counter") == 12


def test_a_duplicate_moves_it_too_and_a_replay_never_moves_it_back(consumer):
    consumer.receive("counter", delivered(3, 0))
    consumer.receive("counter", delivered(5, 3))
    consumer.receive("counter", delivered(3, 0))  # redelivered after a reconnect
    assert consumer.recorded_through("counter") == 5


def test_nothing_unverified_or_unchained_moves_it(consumer):
    forged = {**delivered(3, 0), "previous": 0, "position": 1000}  # altered after signing
    assert consumer.receive("counter", forged) == REJECTED
    assert consumer.receive("counter", delivered(4, None)) == RECORDED  # a relay that does not name it
    assert consumer.recorded_through("counter") == 0  # the periodic pull moves it then
