"""The relay: publishes a service's own events from its store, never from the command handler.

It follows the service's categories from a stored checkpoint, publishes each event to the topic
exchange ``<service>.events`` (routing key = event type, the way nameko's EventDispatcher does)
with publisher confirms, and moves the checkpoint only after the broker confirmed. Each envelope is
signed with the deployment's signing key (shared/signing.py), so consumers believe only what a relay sent.
A process killed between an append and its publication publishes it after the restart.
"""
from __future__ import annotations

import logging
import os
import signal

from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange

from . import observe
from .signing import SigningKeyMissing

log = logging.getLogger(__name__)

# Fault injection for the crash tests: SIGKILL ourselves right before the first publication.
FAULT_KILL_BEFORE_PUBLISH = "CHRONICLE_FAULT_KILL_BEFORE_PUBLISH"


class Relay:
    def __init__(self, service_name, store, state, categories, amqp_uri, config=None, batch=200, signer=None):
        self.service_name = service_name
        self.signer = signer  # None only outside a running service (e.g. chronicle rebuild): publishing refuses
        self.store, self.state = store, state
        self.categories = list(categories)
        self.batch = batch
        self.checkpoint_name = f"relay:{service_name}"
        self.exchange = get_event_exchange(service_name, config or {})
        self.publisher = Publisher(amqp_uri, use_confirms=True, serializer="json", declare=[self.exchange])
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
            for event in events:
                if os.environ.get(FAULT_KILL_BEFORE_PUBLISH) == "1":
                    log.warning("fault injection: SIGKILL before publishing %s", event.id)
                    os.kill(os.getpid(), signal.SIGKILL)
                self.publisher.publish(
                    self.signer.sign(event.to_dict()),
                    exchange=self.exchange,
                    routing_key=event.type,
                    headers={"chronicle.event_id": event.id, "chronicle.position": event.position},
                )
            # Confirmed (publish returns only after the broker's ack): now move the checkpoint.
            self.state.save_checkpoint(self.checkpoint_name, events[-1].position)
            total += len(events)
            self.published += len(events)
            observe.published(self.service_name, len(events))
