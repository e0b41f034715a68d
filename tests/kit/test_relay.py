"""The relay (shared/relay.py) on the real broker: a batch is published whole and in order, and the checkpoint
moves only once the broker confirmed every event of it; a batch the broker refuses part of is published again."""
import json

import kombu
import pytest
from amqp.exceptions import MessageNacked

from shared.eventstore import open_store
from shared.eventstore.base import ANY, NewEvent
from shared.relay import Relay
from shared.signing import Signer
from shared.state import DurableState
from shared.testing import TEST_SIGNING_KEY


def relay_with_events(amqp_uri, tmp_path, count):
    store = open_store(f"sqlite:///{tmp_path / 'svc.events.db'}")
    store.append("svc-1", [NewEvent(type="Happened", data={"n": n}) for n in range(count)], ANY)
    state = DurableState(str(tmp_path / "svc.state.db"))
    return Relay("svc", store, state, ["svc"], amqp_uri, batch=4, signer=Signer([TEST_SIGNING_KEY])), store


def bound_queue(connection, relay, name="svc-relay-test", **arguments):
    queue = kombu.Queue(name, exchange=relay.exchange, routing_key="#", queue_arguments=arguments)
    queue(connection.default_channel).declare()
    return queue


def drain(connection, queue):
    channel = connection.channel()
    bodies = []
    while (message := channel.basic_get(queue.name, no_ack=True)) is not None:
        bodies.append(json.loads(message.body))
    channel.close()
    return bodies


def test_every_event_is_published_in_order_and_then_the_checkpoint_moves(isolated_amqp_uri, tmp_path):
    relay, store = relay_with_events(isolated_amqp_uri, tmp_path, 10)  # batches of 4, 4 and 2
    with kombu.Connection(isolated_amqp_uri) as connection:
        relay.channel._open()  # declares the exchange, so that the queue can be bound before the first batch
        queue = bound_queue(connection, relay)
        try:
            assert relay.run_once() == 10
            assert relay.position() == store.head_position()
            published = drain(connection, queue)
            assert [e["data"]["n"] for e in published] == list(range(10))
            assert all(Signer([TEST_SIGNING_KEY]).verify(e) for e in published)
            # each names the event published before it, across batches: a chain consumers follow (consumer.py)
            assert [e["previous"] for e in published] == [0] + [e["position"] for e in published[:-1]]
            assert relay.run_once() == 0  # nothing new: nothing published again
            assert drain(connection, queue) == []
        finally:
            relay.close()


def test_a_batch_the_broker_refuses_in_part_leaves_the_checkpoint_and_is_published_again(isolated_amqp_uri,
                                                                                         tmp_path):
    relay, store = relay_with_events(isolated_amqp_uri, tmp_path, 4)  # one batch
    with kombu.Connection(isolated_amqp_uri) as connection:
        relay.channel._open()
        # A full queue that refuses more makes the broker nack the publications it cannot take.
        queue = bound_queue(connection, relay, **{"x-max-length": 2, "x-overflow": "reject-publish"})
        try:
            with pytest.raises(MessageNacked):
                relay.run_once()
            assert relay.position() == 0  # not every event of the batch was confirmed
            assert [e["data"]["n"] for e in drain(connection, queue)] == [0, 1]
            queue(connection.default_channel).delete()
            queue = bound_queue(connection, relay, name="svc-relay-test-2")  # room for all of them now
            assert relay.run_once() == 4  # the whole batch goes out again, and only then the checkpoint moves
            assert relay.position() == store.head_position()
            assert [e["data"]["n"] for e in drain(connection, queue)] == [0, 1, 2, 3]
        finally:
            relay.close()
