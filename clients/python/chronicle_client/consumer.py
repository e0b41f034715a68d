"""Following a Chronicle service's events without missing any: catch up from its feed, then follow AMQP.

AMQP is the fast path, the feed (``events_since``) is the truth. A ``Subscription``:

1. binds its own queue to ``<service>.events`` (routing key = event type) first, so nothing published from now
   on is missed;
2. catches up from the feed after its stored cursor, then keeps catching up every ``catch_up_every`` seconds
   (what AMQP lost, e.g. while the process was down, is found there);
3. handles live events as they arrive.

Every envelope's signature is checked before the handler sees it (a forged one is counted in
``counts["rejected"]`` and dropped). The same event can arrive from both paths: it is handled once, by event id.
The cursor (a small SQLite file) moves only along the feed, after the handler returned, so an event whose handler
raised is offered again on the next catch-up: handling is at least once, and effects should be idempotent.
"""
from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time

from kombu import Connection, Exchange, Queue, binding

from .client import DEFAULT_AMQP_URI, Chronicle
from .envelope import Envelope, Verifier
from .errors import ValidationError

log = logging.getLogger(__name__)


class Cursor:
    """Where a subscription stands in a feed: the position read up to, and the events handled ahead of it
    (from AMQP), kept in one SQLite file."""

    def __init__(self, path: str):
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS cursor (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER)")
        self._db.execute("CREATE TABLE IF NOT EXISTS handled (event_id TEXT PRIMARY KEY, position INTEGER)")
        self._db.execute("INSERT OR IGNORE INTO cursor VALUES (1, 0)")

    @property
    def position(self) -> int:
        return self._db.execute("SELECT position FROM cursor").fetchone()[0]

    def handled(self, event: Envelope) -> bool:
        return event.position <= self.position or self._db.execute(
            "SELECT 1 FROM handled WHERE event_id = ?", (event.id,)).fetchone() is not None

    def mark_handled(self, event: Envelope):
        self._db.execute("INSERT OR IGNORE INTO handled VALUES (?, ?)", (event.id, event.position))

    def advance(self, position: int):
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("UPDATE cursor SET position = MAX(position, ?)", (position,))
            self._db.execute("DELETE FROM handled WHERE position <= ?", (position,))  # the cursor covers them now

    def close(self):
        self._db.close()


class Subscription:
    """``handler(envelope: Envelope)`` for each of ``service``'s events (only ``types``, when given), once.

    ``cursor`` is the path of the cursor file. ``amqp_uri``, ``token`` and ``signing_keys`` default to
    ``AMQP_URI``, ``CHRONICLE_TOKEN`` and ``CHRONICLE_SIGNING_KEY``. Call ``catch_up()`` and ``receive()``
    yourself, or ``run(stop)`` (blocks until ``stop`` is set), or ``start()``/``stop()`` (a thread).
    """

    def __init__(self, service: str, handler, *, cursor: str, types: list[str] | None = None,
                 amqp_uri: str | None = None, token: str | None = None, signing_keys=None,
                 catch_up_every: float = 30.0, page_size: int = 500):
        self.service, self.handler, self.types = service, handler, list(types) if types else None
        self.amqp_uri = amqp_uri or os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI
        self.token, self.catch_up_every, self.page_size = token, catch_up_every, page_size
        self.verifier = Verifier(signing_keys)
        self.cursor = Cursor(cursor)
        self.counts = {"handled": 0, "duplicate": 0, "rejected": 0, "failed": 0}
        self._feed_filters = True  # the service filters by type; False once it said it cannot (older services)
        self._lock = threading.Lock()  # one event at a time, whichever path it came by
        self._thread = None
        self._stop = threading.Event()

    # -- the two paths --------------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Handle every event of the feed after the cursor; returns how many were handled. Stops at an event
        whose handler raised (it is offered again next time) and raises that error."""
        handled = 0
        with Chronicle(self.amqp_uri, token=self.token) as chronicle:
            feed = chronicle.service(self.service)
            while True:
                position = self.cursor.position
                page = self._page(feed, position)
                done = position
                try:
                    for envelope in page["events"]:
                        if self.types is None or envelope.get("type") in self.types:
                            handled += self._handle(envelope, raise_errors=True)
                        if isinstance(envelope.get("position"), int) and envelope["position"] <= page["next_position"]:
                            done = envelope["position"]
                    done = page["next_position"]
                finally:
                    self.cursor.advance(done)  # once a page (a commit each), or up to the event that failed
                if page["next_position"] >= page["head"] or page["next_position"] == position:
                    return handled

    def receive(self, envelope: dict) -> bool:
        """Handle one envelope that arrived live; True if the handler ran. Never moves the cursor (only the feed
        does), so an envelope whose handler raised is offered again by the next catch-up."""
        if self.types is not None and isinstance(envelope, dict) and envelope.get("type") not in self.types:
            return False
        return bool(self._handle(envelope, raise_errors=False, live=True))

    def _page(self, feed, position) -> dict:
        if self._feed_filters and self.types is not None:
            try:
                return feed.events_since(position=position, limit=self.page_size, types=self.types)
            except ValidationError as exc:
                # A service older than the filter: "Unknown field" (or no details, from one older still).
                # Any other answer (a type the service does not have) is the caller's mistake: raise it.
                if exc.errors and exc.errors.get("types") != ["Unknown field."]:
                    raise
                self._feed_filters = False  # filter here
        return feed.events_since(position=position, limit=self.page_size)

    def _handle(self, envelope, *, raise_errors, live=False) -> int:
        if not self.verifier.verify(envelope):
            self.counts["rejected"] += 1
            log.warning("rejected an event from %s with a bad or missing signature (id %s)", self.service,
                        envelope.get("id") if isinstance(envelope, dict) else None)
            return 0
        event = Envelope.from_dict(envelope)
        with self._lock:
            if self.cursor.handled(event):
                self.counts["duplicate"] += 1
                return 0
            try:
                self.handler(event)
            except Exception:
                self.counts["failed"] += 1
                log.exception("handler failed on %s %s; offered again on the next catch-up", event.type, event.id)
                if raise_errors:
                    raise
                return 0
            if live:
                self.cursor.mark_handled(event)
            self.counts["handled"] += 1
            return 1

    # -- running ----------------------------------------------------------------------------------------
    def run(self, stop: threading.Event):
        """Bind the queue, catch up, then follow live events and catch up every ``catch_up_every`` seconds,
        until ``stop`` is set. A broker or service that is away is retried."""
        while not stop.is_set():
            try:
                self._follow(stop)
            except Exception as exc:  # the broker or the service is away, or a handler failed: retry
                log.warning("subscription to %s: %s; retrying", self.service, exc)
                stop.wait(1.0)

    def _follow(self, stop):
        exchange = Exchange(f"{self.service}.events", type="topic", durable=True)
        keys = self.types or ["#"]
        # An exclusive queue of our own: what is published while we are down is caught up from the feed.
        queue = Queue(exclusive=True, auto_delete=True,
                      bindings=[binding(exchange, routing_key=key) for key in keys])
        with Connection(self.amqp_uri) as connection:
            def on_message(body, message):
                self.receive(body)
                message.ack()  # handled, a duplicate, forged, or failed (the feed offers it again)

            with connection.Consumer(queue, callbacks=[on_message], accept=["json"]):
                self.catch_up()  # after binding, so nothing falls between the feed and the queue
                next_catch_up = time.monotonic() + self.catch_up_every
                while not stop.is_set():
                    try:
                        connection.drain_events(timeout=0.5)
                    except socket.timeout:
                        pass
                    if time.monotonic() >= next_catch_up:
                        self.catch_up()
                        next_catch_up = time.monotonic() + self.catch_up_every

    def start(self) -> Subscription:
        """Run in a background thread (``stop()`` ends it)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name=f"subscription:{self.service}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self):
        self.stop()
        self.cursor.close()
