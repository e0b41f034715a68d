"""Two replicas of one service on the same data: only the one holding the lease publishes; SIGKILLed, the
other takes over within a bounded time, and every event is published exactly once."""
import json
import os
import sqlite3
from collections import Counter

import kombu
import pytest
from amqp.exceptions import NotFound, ResourceLocked
from nameko.exceptions import UnknownService
from nameko.standalone.events import get_event_exchange

from shared.eventstore import open_store
from shared.testing import ServiceProcess, rpc_proxy, service_config, wait_until

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAKEOVER_BOUND = 10.0  # seconds; LEADER_RETRY_SECONDS is 0.5 here


class Replica(ServiceProcess):
    """One `nameko run` process of the counter service with its own read models and durable state, as on its
    own host: the replicas share only the event store (and the broker)."""

    def __init__(self, name, config, tmp_path):
        self.views_path = tmp_path / f"{name}.views.db"
        self.state_path = tmp_path / f"{name}.state.db"
        super().__init__(name, {**config, "VIEWS_PATH": str(self.views_path), "STATE_PATH": str(self.state_path)},
                         tmp_path, target="tests.kit.sample:CounterService")

    def relay_checkpoint(self) -> int:
        if not self.state_path.exists():
            return 0
        with sqlite3.connect(self.state_path) as db:
            row = db.execute("SELECT position FROM checkpoints WHERE name = 'relay:counter'").fetchone()
        return row[0] if row else 0


class Publications:
    """A test queue bound to every routing key of ``counter.events``: what the relays published."""

    def __init__(self, config):
        self.connection = kombu.Connection(config["AMQP_URI"])
        self.channel = self.connection.channel()
        exchange = get_event_exchange("counter", config)
        self.queue = kombu.Queue("test.counter.publications", exchange=exchange, routing_key="#",
                                 exclusive=True)
        self.queue.bind(self.channel).declare()
        self.ids = []

    def collect(self):
        while True:
            message = self.queue.bind(self.channel).get(no_ack=True)
            if message is None:
                return self.ids
            self.ids.append(message.headers["chronicle.event_id"])

    def lease_held(self) -> bool:
        """Someone holds ``counter.leader``: the broker refuses us even a passive look at it."""
        channel = self.connection.channel()
        try:
            channel.queue_declare(queue="counter.leader", passive=True)
            return False  # ours?! no replica would have left a free one behind
        except ResourceLocked:
            return True
        except NotFound:
            return False
        finally:
            if channel.is_open:
                channel.close()

    def shared_checkpoints(self) -> dict:
        channel = self.connection.channel()
        try:
            message = channel.basic_get("counter.checkpoints", no_ack=False)
            if message is None:
                return {}
            channel.basic_reject(message.delivery_tag, requeue=True)
            return json.loads(message.body)["checkpoints"]
        except Exception:
            return {}
        finally:
            if channel.is_open:
                channel.close()

    def close(self):
        self.connection.release()


def test_one_replica_publishes_and_the_other_takes_over_when_it_is_killed(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, LEADER_RETRY_SECONDS=0.5, LEADER_HEARTBEAT_SECONDS=5)
    store = open_store(f"sqlite:///{tmp_path / 'counter.events.db'}")  # the data both replicas share
    first, second = Replica("first", config, tmp_path), Replica("second", config, tmp_path)
    publications = Publications(config)
    try:
        first.start()
        with rpc_proxy(config, timeout=30) as rpc:
            wait_until(lambda: rpc.counter.events_since(position=0, limit=1), timeout=60, ignore=(UnknownService,),
                       message="first replica did not start")
            rpc.counter.increment(counter_id="c0", by=1, command_id="alone")
            wait_until(lambda: first.relay_checkpoint() == store.head_position(), timeout=30,
                       message="the first replica did not publish")
            second.start()
            wait_until(lambda: rpc_consumers(publications) == 2, timeout=60, message="second replica did not start")

            # Both replicas answer commands (they share the RPC queue); one relay publishes.
            for i in range(19):
                rpc.counter.increment(counter_id=f"c{i % 3}", by=1, command_id=f"before-{i}")
            head = store.head_position()
            wait_until(lambda: first.relay_checkpoint() == head, timeout=30, message="the leader published")
            assert second.relay_checkpoint() == 0  # the standby published nothing
            assert sorted(publications.collect()) == sorted(e.id for e in store.read_all(0))
            assert publications.lease_held()
            # Killed between a publication and its checkpoint, any instance publishes it again (at least
            # once): kill the leader at rest, once it has shared its checkpoint.
            wait_until(lambda: publications.shared_checkpoints().get("relay:counter") == head, timeout=30,
                       message="the leader shared its relay checkpoint")

            first.kill()
            wait_until(lambda: second.relay_checkpoint() == head, timeout=TAKEOVER_BOUND,
                       message="the second replica took over")
            for i in range(10):
                rpc.counter.increment(counter_id=f"c{i % 3}", by=1, command_id=f"after-{i}")
            head = store.head_position()
            wait_until(lambda: second.relay_checkpoint() == head, timeout=30, message="published after failover")

        published = Counter(publications.collect())
        stored = [e.id for e in store.read_all(0)]
        assert len(stored) == 30
        assert set(published) == set(stored)  # nothing lost
        assert [i for i, n in published.items() if n > 1] == []  # nothing published twice
    finally:
        publications.close()
        for replica in (first, second):
            replica.stop()


def rpc_consumers(publications) -> int:
    channel = publications.connection.channel()
    try:
        return channel.queue_declare(queue="rpc-counter", passive=True).consumer_count
    finally:
        channel.close()
