"""One active instance per service: a lease held through RabbitMQ.

Replicas of a service share its RPC and event-handler queues (nameko does that), and each keeps its own
read models and records foreign events (recording is idempotent). What must not run twice (the relay, the
reactors, the notification courier) runs only in the replica that holds the lease: the exclusive queue
``<service>.leader``. RabbitMQ lets one connection at a time declare it and deletes it when that connection
closes, so a replica that dies (even SIGKILLed) frees it at once, and one cut off from the broker frees it
when the heartbeats stop. The other replicas try to take it every ``LEADER_RETRY_SECONDS``.

The relay's and the reactors' checkpoints live in each replica's durable state (``<service>.state.db``). So
that the next leader goes on where the last one stopped, not from its own older checkpoints (a replica on
another host or a fresh pod has its own state file), the leader publishes them after each move to the durable
queue ``<service>.checkpoints``, which keeps only the newest message; a replica that takes the
lease adopts the greater of its own and those. The event store stays the source of truth: if that message is
lost, the new leader publishes some events again (consumers deduplicate) and its reactors see some events
again (their actions are idempotent), and nothing is lost. A message taken on another store (the store was
wiped, or a test made a fresh one on the same broker) is not adopted: it names the store's first event and
holds no position past the store's head, or it is ignored, since adopting it would skip events.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time

import kombu
from amqp.exceptions import ResourceLocked
from nameko.amqp.publish import Publisher

from . import config as cfg

log = logging.getLogger(__name__)

# Checkpoints that only the active instance moves, and that the next one must continue from.
LEADER_CHECKPOINTS = ("relay:", "reactor:")
# At most one shared snapshot a second, not one per relay batch: a snapshot costs a confirmed publication, and a
# snapshot a moment old only means the next leader publishes (and reacts to) a few events again (at least once).
SHARE_INTERVAL = 1.0


class Leadership:
    def __init__(self, service_name: str, amqp_uri: str, state, store, config=None):
        self.service_name = service_name
        self.amqp_uri = amqp_uri
        self.state = state  # shared/state.py's DurableState: where the checkpoints are
        self.store = store
        self.enabled = cfg.flag(config, "LEADER_ELECTION", True)
        self.retry_interval = cfg.number(config, "LEADER_RETRY_SECONDS", 2.0)
        self.heartbeat = cfg.number(config, "LEADER_HEARTBEAT_SECONDS", 10.0)
        self.tick = min(self.retry_interval, self.heartbeat / 4)  # read the broker's heartbeats often enough
        self.lease_queue = f"{service_name}.leader"
        self.checkpoint_queue = kombu.Queue(
            f"{service_name}.checkpoints", durable=True, auto_delete=False,
            queue_arguments={"x-max-length": 1},  # the newest snapshot only
        )
        self.publisher = Publisher(amqp_uri, use_confirms=True, serializer="json", declare=[self.checkpoint_queue])
        self.active = threading.Event()
        if not self.enabled:
            self.active.set()
        self.on_elected = lambda: None
        self.attempts = 0  # tries to take the lease, successful or not
        self._running = False
        self._connection = None
        self._share_lock = threading.Lock()
        self._shared: dict | None = None
        self._next_share = 0.0
        self._last_error = None
        self._next_attempt = 0.0
        self._first_event_id = None

    # -- what the kit calls -------------------------------------------------------------------
    def guard(self, step):
        """``step`` runs only while this instance is the active one; the checkpoints it moved are shared."""
        def guarded(*args, **kwargs):
            if not self.active.is_set():
                return 0
            result = step(*args, **kwargs)
            if time.monotonic() >= self._next_share:  # else a later round shares it (the loops come round)
                self._next_share = time.monotonic() + SHARE_INTERVAL
                self.share()
            return result
        return guarded

    def hold(self):
        """The managed thread: take the lease when it is free, keep it alive, give it up when cut off."""
        if not self.enabled:
            return
        self._running = True
        try:
            while self._running:
                try:
                    if self._connection is None:
                        self._connection = kombu.Connection(self.amqp_uri, heartbeat=self.heartbeat)
                        self._connection.ensure_connection(max_retries=1)
                    if not self.active.is_set() and time.monotonic() >= self._next_attempt:
                        self._next_attempt = time.monotonic() + self.retry_interval
                        self._try_to_lead()
                    self._keep_alive()
                except Exception as exc:
                    self._step_down(exc)
                    threading.Event().wait(self.retry_interval)
        finally:
            self._release()

    def stop(self):
        self._running = False
        if self.enabled:
            self.active.clear()

    def share(self):
        """Publish the leader's checkpoints (confirmed) when they moved since the last time."""
        if not self.enabled:
            return
        with self._share_lock:
            current = self._leader_checkpoints()
            if current == self._shared:
                return
            snapshot = {"store": self._store_mark(), "checkpoints": current}
            self.publisher.publish(snapshot, routing_key=self.checkpoint_queue.name, mandatory=True)
            self._shared = current

    # -- the lease ----------------------------------------------------------------------------
    def _try_to_lead(self):
        channel = self._connection.channel()
        self.attempts += 1
        try:
            channel.queue_declare(queue=self.lease_queue, exclusive=True, durable=False, auto_delete=False)
        except ResourceLocked:
            return  # another replica leads; the broker closed this channel
        self._adopt(self._last_shared(channel))
        self.active.set()
        log.info("%s: this instance is now the active one (it holds %s)", self.service_name, self.lease_queue)
        self.on_elected()

    def _keep_alive(self):
        """Wait one interval on the connection, reading the broker's heartbeats; raises once they stop."""
        try:
            self._connection.drain_events(timeout=self.tick)
        except socket.timeout:
            pass
        self._connection.heartbeat_check()

    def _step_down(self, exc):
        if self.active.is_set() and self.enabled:
            self.active.clear()
            log.warning("%s: lost the lease %s (%s); standing by", self.service_name, self.lease_queue, exc)
        elif self._running and str(exc) != self._last_error:  # once per kind of failure, not every attempt
            log.warning("%s: cannot try for the lease %s (%s); trying again every %ss", self.service_name,
                        self.lease_queue, exc, self.retry_interval)
        self._last_error = str(exc)
        self._release()

    def _release(self):
        connection, self._connection = self._connection, None
        if self.enabled:
            self.active.clear()
        if connection is not None:
            try:
                connection.release()  # closing it frees the lease at once
            except Exception:  # noqa: BLE001 - already broken
                pass

    # -- checkpoints handed over --------------------------------------------------------------
    def _leader_checkpoints(self) -> dict:
        clauses = " OR ".join("name LIKE ?" for _ in LEADER_CHECKPOINTS)
        rows = self.state.read(lambda db: db.execute(
            f"SELECT name, position FROM checkpoints WHERE {clauses} ORDER BY name",
            [prefix + "%" for prefix in LEADER_CHECKPOINTS]).fetchall())
        return {name: position for name, position in rows}

    def _last_shared(self, channel) -> dict:
        self.checkpoint_queue.bind(channel).declare()
        message = channel.basic_get(self.checkpoint_queue.name, no_ack=False)
        if message is None:
            return {}
        channel.basic_reject(message.delivery_tag, requeue=True)  # it stays for the next leader
        return json.loads(message.body)

    def _store_mark(self):
        """The id of the store's first event: which store a snapshot was taken on."""
        if self._first_event_id is None:
            first = self.store.read_all(0, limit=1)
            self._first_event_id = first[0].id if first else None
        return self._first_event_id

    def _adopt(self, shared: dict):
        """Continue from the last leader's checkpoints where they are ahead of ours, if they are this store's."""
        self._shared = None  # share ours at the next step, whatever the queue held
        checkpoints = shared.get("checkpoints") or {}
        if not checkpoints:
            return
        head = self.store.head_position()
        if shared.get("store") is None or shared.get("store") != self._store_mark() or \
                max(int(p) for p in checkpoints.values()) > head:
            log.warning("%s: the shared checkpoints were taken on another event store; not adopted",
                        self.service_name)
            return
        with self.state.transaction() as db:
            for name, position in checkpoints.items():
                if name.startswith(LEADER_CHECKPOINTS) and int(position) > self.state.checkpoint(name, db):
                    self.state.set_checkpoint(name, int(position), db)
