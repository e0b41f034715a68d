"""The relay: publishes a service's own events from its store, never from the command handler.

It follows the service's categories from a stored checkpoint, publishes each event to the topic
exchange ``<service>.events`` (routing key = event type, the way nameko's EventDispatcher does)
with publisher confirms, and moves the checkpoint only after the broker confirmed. Each envelope is
signed with the deployment's signing key (shared/signing.py), so consumers believe only what a relay sent.
A process killed between an append and its publication publishes it after the restart.

A batch is published in one go and its confirms are awaited together (the broker acks several deliveries at
once): one round trip per batch instead of one per event. Any nack, timeout or broken connection fails the
whole batch; the checkpoint stays, and the next round publishes the batch again (consumers deduplicate).

Each envelope also names ``previous``: the position of the event published before it (0: none), so a consumer
that has recorded everything up to ``previous`` knows it has everything up to this one, and moves its feed cursor
without pulling the feed (shared/consumer.py).
"""
from __future__ import annotations

import logging
import os
import signal
import time

import kombu
from amqp.exceptions import MessageNacked
from nameko.constants import PERSISTENT
from nameko.standalone.events import get_event_exchange

from . import observe
from .signing import SigningKeyMissing

log = logging.getLogger(__name__)

# Fault injection for the crash tests: SIGKILL ourselves right before the first publication.
FAULT_KILL_BEFORE_PUBLISH = "CHRONICLE_FAULT_KILL_BEFORE_PUBLISH"
CONFIRM_TIMEOUT = 30.0  # seconds the broker may take to confirm a batch before it counts as failed


class ConfirmedChannel:
    """One AMQP channel in confirm mode: publish several messages, then wait once until the broker has
    confirmed them all. Reconnects lazily after a failure."""

    def __init__(self, amqp_uri, exchange):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self._connection = self._producer = None

    def _open(self):
        connection = kombu.Connection(self.amqp_uri)
        connection.connect()
        channel = connection.channel()
        channel.confirm_select()
        self._sent = self._acked = 0  # delivery tags count from 1 on a channel in confirm mode
        self._nacked = False
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._connection = connection
        self._producer = kombu.Producer(channel, exchange=self.exchange, serializer="json")  # declares it

    def _on_ack(self, delivery_tag, multiple):
        self._acked = max(self._acked, delivery_tag)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked = True

    def publish_all(self, messages):
        """``messages``: (body, routing_key, headers) triples. Returns once the broker confirmed every one;
        raises if it refused one, or did not answer within CONFIRM_TIMEOUT."""
        try:
            if self._connection is None:
                self._open()
            for body, routing_key, headers in messages:
                self._producer.publish(body, routing_key=routing_key, headers=headers, delivery_mode=PERSISTENT,
                                       retry=False)
                self._sent += 1
                time.sleep(0)  # eventlet: let RPC workers run between publications, not after a whole batch
            while self._acked < self._sent and not self._nacked:
                self._connection.drain_events(timeout=CONFIRM_TIMEOUT)
            if self._nacked:
                raise MessageNacked("the broker refused a publication of this batch")
        except BaseException:
            self.close()  # a fresh channel next time: no confirm of this batch may count for the next
            raise

    def close(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: BLE001 - already broken
                pass


class Relay:
    def __init__(self, service_name, store, state, categories, amqp_uri, config=None, batch=200, signer=None):
        self.service_name = service_name
        self.signer = signer  # None only outside a running service (e.g. chronicle rebuild): publishing refuses
        self.store, self.state = store, state
        self.categories = list(categories)
        self.batch = batch
        self.checkpoint_name = f"relay:{service_name}"
        self.exchange = get_event_exchange(service_name, config or {})
        self.channel = ConfirmedChannel(amqp_uri, self.exchange)
        self.published = 0

    def position(self) -> int:
        return self.state.get_checkpoint(self.checkpoint_name)

    def run_once(self) -> int:
        """Publish everything after the checkpoint. Returns how many events were published."""
        total = 0
        while True:
            start = self.position()
            events = self.store.read_all(start, self.categories, limit=self.batch)
            if not events:
                return total
            if self.signer is None:
                raise SigningKeyMissing("the relay signs every event it publishes: set CHRONICLE_SIGNING_KEY")
            if os.environ.get(FAULT_KILL_BEFORE_PUBLISH) == "1":
                log.warning("fault injection: SIGKILL before publishing %s", events[0].id)
                os.kill(os.getpid(), signal.SIGKILL)
            self.channel.publish_all(
                (self.signer.sign({**event.to_dict(), "previous": previous}), event.type,
                 {"chronicle.event_id": event.id, "chronicle.position": event.position})
                for event, previous in zip(events, [start] + [e.position for e in events[:-1]], strict=True))
            # Confirmed, every one of them: now move the checkpoint.
            self.state.save_checkpoint(self.checkpoint_name, events[-1].position)
            total += len(events)
            self.published += len(events)
            observe.published(self.service_name, len(events))

    def close(self):
        self.channel.close()
