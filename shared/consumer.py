"""Consumers: other services' events, verified, then recorded once in our own store before anything acts on them.

A foreign event from stream ``S`` is recorded as the same event (same id, same version) in our
stream ``<service>~S``, appended with the expected version ``version - 1``. Before that it must pass,
in order:

1. its signature (shared/signing.py): a message that fails is *rejected*: recorded nowhere, logged
   with its routing key and id, and counted. The source's feed still serves the real event.
2. its producer's schema, after upcasting (the producer's EventRegistry, found through
   shared/catalog.py): an invalid event is *parked* (kind "consumer", reason "schema_invalid").
3. its version: the same id at a recorded version is a duplicate and changes nothing; a different
   id at a recorded version is a *conflict*, never a duplicate: it is parked (reason
   "version_conflict") and the consumer re-reads that stream's truth from the source's feed.
   A delivery that arrives before its predecessors (a gap) makes the consumer pull the feed.

AMQP is the fast path. On start-up and at an interval the consumer pages the source's feed
(``events_since`` over RPC) from its checkpoint, so nothing published while it was down is lost.
``counts`` holds how many messages ended in each outcome, for metrics.

The checkpoint (the feed cursor: the source's position up to which everything is recorded here) also moves on the
fast path. The relay names in each envelope the position of the event it published before (``previous``); an
event taken (recorded, a duplicate, or of a category not followed) whose ``previous`` the cursor has reached moves
the cursor to its own position, and deliveries that completed out of order join up once the gap closes. So the
periodic pull finds only what AMQP did not bring, instead of every event a second time, and a caller's ``seen``
token is met without a pull. The cursor is kept in memory and saved at most once a second (and by every pull): a
crash only makes the next pull read a few events again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from . import observe
from .eventstore.base import NO_STREAM, EventStoreError, NewEvent, RecordedEvent, WrongExpectedVersion

log = logging.getLogger(__name__)

RECORDED, DUPLICATE, GAP = "recorded", "duplicate", "gap"
REJECTED, INVALID, CONFLICT, IGNORED = "rejected", "invalid", "conflict", "ignored"
OUTCOMES = (RECORDED, DUPLICATE, GAP, REJECTED, INVALID, CONFLICT, IGNORED)

KIND = "consumer"  # the kind of our entries in the durable state's parked events
CURSOR_SAVE_SECONDS = 1.0  # the fast path saves the feed cursor at most this often (a pull saves it always)
LINKS_KEPT = 10_000  # deliveries taken ahead of the cursor, remembered until it reaches them


def mirror_stream(receiver: str, source_stream: str) -> str:
    return f"{receiver}~{source_stream}"


def mirror_category(receiver: str, source_category: str) -> str:
    return f"{receiver}~{source_category}"


class UntrustedFeed(Exception):
    """The source's feed served an envelope whose signature does not verify: nothing of that page is believed."""


class Consumer:
    def __init__(self, service_name, store, state, sources: dict, config: dict, *, signer, registries: dict,
                 credentials=None, rpc_timeout=10.0, page=500):
        """``state``: the durable state (checkpoints, parked events). ``signer``: verifies envelopes (None:
        every message is rejected). ``registries``: source service -> its EventRegistry. ``credentials``: this
        service's own identity for feed pulls (shared.identity.InternalCredentials)."""
        self.service_name = service_name
        self.store, self.state = store, state
        self.sources = dict(sources)  # source service -> its categories
        self.config = config
        self.signer = signer
        self.registries = dict(registries)
        self.rpc_timeout = rpc_timeout
        self.page = page
        self.credentials = credentials
        self.counts = Counter({outcome: 0 for outcome in OUTCOMES})
        self._pull_locks = {source: threading.RLock() for source in self.sources}  # a conflict met in a pull re-reads its stream
        self._proxies = {}  # source -> (ClusterRpcProxy, its cluster): kept open, a call costs ~2 ms, a new proxy ~15
        self._suspended = {}  # source -> monotonic time until which commands do not wait on its feed
        self._cursor = {}  # source -> the feed cursor, ahead of the saved checkpoint by what the fast path took
        self._links = {source: {} for source in self.sources}  # source -> {previous: position} taken out of order
        self._saved_at = {}  # source -> monotonic time the cursor was last saved
        self._cursor_lock = threading.Lock()

    @property
    def categories(self) -> list[str]:
        return [mirror_category(self.service_name, c) for cats in self.sources.values() for c in cats]

    def checkpoint_name(self, source):
        return f"consumer:{source}"

    def recorded_through(self, source) -> int:
        """The source's position up to which everything of its feed is recorded here (pulled, or taken by AMQP)."""
        if source not in self._cursor:
            self._cursor[source] = self.state.get_checkpoint(self.checkpoint_name(source))
        return self._cursor[source]

    def _move_cursor(self, source, position: int, save: bool = False):
        """Everything up to ``position`` is recorded: the cursor moves there (never back)."""
        with self._cursor_lock:
            cursor = max(self.recorded_through(source), position)
            links = self._links[source]
            while cursor in links:  # later events taken before this one
                cursor = max(cursor, links.pop(cursor))
            if len(links) > LINKS_KEPT:  # redeliveries and relay replays leave links behind the cursor
                for previous in [p for p in links if p < cursor]:
                    del links[previous]
            self._cursor[source] = cursor
            now = time.monotonic()
            if save or now - self._saved_at.get(source, 0.0) >= CURSOR_SAVE_SECONDS:
                self._saved_at[source] = now
                self.state.save_checkpoint(self.checkpoint_name(source), cursor)

    def _taken(self, source, envelope):
        """A verified event from AMQP is recorded (or needs no recording): move the cursor along the relay's chain."""
        previous, position = envelope.get("previous"), envelope.get("position")
        if not (type(previous) is int and type(position) is int):
            return  # from a relay that does not name it: the periodic pull moves the cursor
        if previous > self.recorded_through(source):
            with self._cursor_lock:
                if len(self._links[source]) <= LINKS_KEPT:
                    self._links[source][previous] = position
            if previous > self.recorded_through(source):
                return
        self._move_cursor(source, position)

    # -- recording -----------------------------------------------------------------------------
    def record(self, source: str, envelope, routing_key=None) -> str:
        """Verify and record one foreign event; returns one of OUTCOMES (and counts it)."""
        outcome = self._record(source, envelope, routing_key)
        self.counts[outcome] += 1
        return outcome

    def _record(self, source, envelope, routing_key) -> str:
        if self.signer is None or not self.signer.verify(envelope):
            event_id = envelope.get("id") if isinstance(envelope, dict) else None
            if routing_key is None and isinstance(envelope, dict):
                routing_key = envelope.get("type")  # what the relay routes by (nameko hides the delivery's key)
            log.warning("%s: rejected a message from %s that fails signature verification (routing key %r, id %r)",
                        self.service_name, source, routing_key, event_id)
            return REJECTED
        # Signed by a relay of ours: from here on a fault is the producer's, so it is parked, never just dropped.
        try:
            event = RecordedEvent.from_dict(envelope)
        except Exception as exc:
            self._park(source, envelope, "schema_invalid", f"not an event envelope: {type(exc).__name__}: {exc}")
            return INVALID
        if event.category not in self.sources.get(source, ()):
            return IGNORED  # not a category we follow: nothing to record
        error = self.schema_error(source, event)
        if error:
            self._park(source, envelope, "schema_invalid", error)
            return INVALID
        stream = mirror_stream(self.service_name, event.stream)
        recorded = self._recorded_at(stream, event.version)
        if recorded is not None:
            return DUPLICATE if recorded.id == event.id else self._conflict(source, envelope, event, recorded)
        metadata = dict(event.metadata)
        metadata["origin"] = {
            "service": source,
            "stream": event.stream,
            "version": event.version,
            "position": event.position,
            "recorded_at": event.recorded_at.isoformat(),
        }
        new = NewEvent(type=event.type, data=event.data, id=event.id, schema_version=event.schema_version, metadata=metadata)
        expected = NO_STREAM if event.version == 0 else event.version - 1
        try:
            self.store.append(stream, [new], expected)
        except WrongExpectedVersion as exc:
            if exc.actual is None or exc.actual < event.version:
                return GAP
            recorded = self._recorded_at(stream, event.version)  # another worker recorded it meanwhile
            if recorded is not None and recorded.id == event.id:
                return DUPLICATE
            return self._conflict(source, envelope, event, recorded)
        except EventStoreError as exc:  # the id is recorded in another stream
            self._park(source, envelope, "version_conflict", str(exc))
            return CONFLICT
        return RECORDED

    def _recorded_at(self, stream, version):
        events = self.store.read_stream(stream, version, limit=1)
        return events[0] if events and events[0].version == version else None

    def schema_error(self, source: str, event: RecordedEvent) -> str | None:
        """Why ``event`` does not match its producer's schema (after upcasting), or None if it does."""
        registry = self.registries.get(source)
        if registry is None:
            return f"no event registry for source {source!r}"
        if event.type not in registry.types():
            return f"{source} has no event type {event.type!r}"
        if event.schema_version > registry.current_version(event.type):
            return f"{event.type} v{event.schema_version} is newer than this service knows"
        try:
            current = registry.upcast(event)
            errors = registry.schema(current.type, current.schema_version).validate(current.data)
        except Exception as exc:  # an upcaster that fails on the data is invalid data too
            return f"{event.type} v{event.schema_version} cannot be upcast: {type(exc).__name__}: {exc}"
        if errors:
            return f"{event.type} v{current.schema_version} does not match its schema: {errors}"
        return None

    def _park(self, source, envelope, reason, error):
        envelope = envelope if isinstance(envelope, dict) else {"body": envelope}
        event_id = str(envelope.get("id") or f"unidentified:{hash(repr(envelope)) & 0xFFFFFFFF:08x}")
        log.warning("%s: parked %s from %s (%s): %s", self.service_name, event_id, source, reason, error)
        position = envelope.get("position")
        self.state.park(
            KIND, source, event_id=event_id, stream=_text(envelope.get("stream")),
            position=position if isinstance(position, int) and not isinstance(position, bool) else None,
            event_type=_text(envelope.get("type")), reason=reason, error=error, envelope=envelope,
        )

    def _conflict(self, source, envelope, event, recorded) -> str:
        """A different event at a version we hold: set it aside and ask the source which one is true."""
        self._park(source, envelope, "version_conflict",
                   f"version {event.version} of {event.stream} is recorded here as event "
                   f"{recorded.id if recorded else '?'}, not {event.id}")
        try:
            self.reconcile(source, event.stream)
        except Exception as exc:  # the source may be down: the entry stays parked for a retry
            log.warning("%s: could not re-read %s from %s: %s", self.service_name, event.stream, source, exc)
        return CONFLICT

    # -- the fast path -------------------------------------------------------------------------
    def receive(self, source: str, envelope, routing_key=None) -> str:
        """The AMQP fast path. A gap makes us pull the source's feed at once."""
        outcome = self.record(source, envelope, routing_key)
        if outcome == GAP:
            log.info("%s: gap before %s from %s; pulling its feed", self.service_name, envelope.get("id"), source)
            self.pull(source)
            outcome = self.record(source, envelope, routing_key)
            if outcome == GAP:
                log.warning("%s: %s from %s still has a gap; the periodic catch-up will retry",
                            self.service_name, envelope.get("id"), source)
        if outcome in (RECORDED, DUPLICATE, IGNORED):
            self._taken(source, envelope)
        observe.consumer_record(self.service_name, source, outcome)
        return outcome

    # -- the feed ------------------------------------------------------------------------------
    def pull(self, source: str) -> int:
        """Page the source's feed from our checkpoint until we have everything. Returns events recorded."""
        with self._pull_locks[source]:
            reused = source in self._proxies
            try:
                return self._pull(source)
            except (RpcTimeout, UntrustedFeed):
                raise  # the source is slow or down, or its feed is not trusted: not the connection
            except Exception as exc:
                if not reused:
                    raise
                # The kept-open proxy lost its connection (the broker restarted since): once more on a new one.
                log.info("%s: the connection for %s's feed was lost (%s); reconnecting", self.service_name, source,
                         exc)
                return self._pull(source)

    def _pull(self, source: str) -> int:
        recorded = 0
        try:
            feed = getattr(self._cluster(source), source)
            while True:
                start = self.recorded_through(source)
                page = feed.events_since(position=start, limit=self.page)
                events = page["events"]
                for envelope in events:
                    outcome = self.record(source, envelope, routing_key="feed")
                    observe.consumer_record(self.service_name, source, outcome)
                    if outcome == REJECTED:
                        raise UntrustedFeed(f"the feed of {source} served {envelope.get('id')!r} unsigned "
                                            "or wrongly signed (are the signing keys the same everywhere?)")
                    if outcome == GAP and not self._blocked(source, envelope.get("stream")):
                        raise RuntimeError(f"feed of {source} has a gap before event {envelope['id']}")
                    recorded += outcome == RECORDED
                if not events:
                    self._suspended.pop(source, None)
                    self._move_cursor(source, start, save=True)  # what the fast path moved, saved now
                    return recorded
                self._move_cursor(source, events[-1]["position"], save=True)
        except Exception:
            self._drop_proxy(source)  # a broken connection must not poison the next pull
            raise

    def _blocked(self, source, stream) -> bool:
        """A stream whose earlier event is parked waits for that event: its later events are not recorded
        before it (an operator's retry re-reads the whole stream from the source)."""
        return any(row["stream"] == stream for row in self.state.parked(KIND, source))

    def source_stream(self, source: str, stream: str, from_version: int = 0) -> list[dict]:
        """One stream of the source, as its feed serves it (signed envelopes), from ``from_version``."""
        feed = getattr(self._cluster(source), source)
        events = []
        while True:
            page = feed.events_since(stream=stream, from_version=from_version + len(events), limit=self.page)
            events += page["events"]
            if len(page["events"]) < self.page:
                return events

    def reconcile(self, source: str, stream: str) -> bool:
        """Re-read ``stream``'s truth from the source's feed, record what we lack and settle the parked
        conflicts it answers. True when our mirror of the stream now equals the source's stream."""
        with self._pull_locks[source]:
            try:
                truth = self.source_stream(source, stream)
            except Exception:
                self._drop_proxy(source)
                raise
        mirror = {e.version: e for e in self.store.read_stream(mirror_stream(self.service_name, stream))}
        agreed = True
        for envelope in truth:
            if not (self.signer and self.signer.verify(envelope)):
                raise UntrustedFeed(f"the feed of {source} served {envelope.get('id')!r} unsigned or wrongly signed")
            recorded = mirror.get(envelope["version"])
            if recorded is None:
                agreed &= self.record(source, envelope, routing_key="feed") in (RECORDED, DUPLICATE)
            elif recorded.id != envelope["id"]:
                agreed = False
                log.error("%s: our copy of %s holds event %s at version %s, which %s never recorded there (it has "
                          "%s): recorded before events were verified; see docs/architecture.md, 'Forged events'",
                          self.service_name, stream, recorded.id, recorded.version, source, envelope["id"])
        versions = {e["version"] for e in truth}
        extra = [e for v, e in mirror.items() if v not in versions]
        for recorded in extra:
            agreed = False
            log.error("%s: our copy of %s holds event %s at version %s, which %s does not have",
                      self.service_name, stream, recorded.id, recorded.version, source)
        if agreed:  # every entry parked for this stream is settled: recorded now, or never the source's
            true_ids = {e["id"] for e in truth}
            for row in self.state.parked(KIND, source):
                if row["stream"] == stream:
                    log.info("%s: parked %s from %s settled by the source's feed (%s)", self.service_name,
                             row["event_id"], source, "recorded" if row["event_id"] in true_ids else "not the source's")
                    self.state.resolve(row["id"])
        return agreed

    def retry_parked(self, row: dict) -> bool:
        """An operator asked to retry a parked consumer entry (``chronicle parked retry``): re-read its
        stream from the source's feed, verify it and record the truth. True if the entry is settled: our
        copy of the stream now equals the source's (the event is recorded, or it was never the source's)."""
        source, stream = row["name"], row.get("stream")
        if source not in self.sources or not stream:  # not even an envelope: nothing the source can confirm
            return False
        return self.reconcile(source, stream)

    # -- connections and the periodic catch-up ---------------------------------------------------
    def suspended(self, source) -> bool:
        return time.monotonic() < self._suspended.get(source, 0.0)

    def suspend(self, source, seconds: float):
        """A source whose feed did not answer: commands stop waiting on it for a while (the periodic
        catch-up keeps trying, and a success lifts this at once)."""
        self._suspended[source] = time.monotonic() + seconds

    def _cluster(self, source):
        # The proxy reads this same context dict on every call: refreshed, it carries a current token.
        context = self.credentials.refresh() if self.credentials is not None else None
        if source not in self._proxies:
            proxy = ClusterRpcProxy(self.config, timeout=self.rpc_timeout, context_data=context)
            self._proxies[source] = (proxy, proxy.start())
        return self._proxies[source][1]

    def _drop_proxy(self, source):
        proxy, _ = self._proxies.pop(source, (None, None))
        if proxy is not None:
            try:
                proxy.stop()
            except Exception:  # pragma: no cover - already broken
                pass

    def close(self):
        for source in list(self._proxies):
            self._drop_proxy(source)
        for source in list(self._cursor):  # what the fast path took since the last save
            try:
                self._move_cursor(source, 0, save=True)
            except Exception as exc:  # the next pull reads those few events again
                log.info("%s: could not save the feed cursor of %s: %s", self.service_name, source, exc)

    def pull_all(self) -> int:
        total = 0
        for source in self.sources:
            try:
                total += self.pull(source)
            except Exception as exc:  # the source may be down: the next round retries
                log.info("%s: catch-up from %s failed: %s", self.service_name, source, exc)
        return total


def _text(value):
    return value if isinstance(value, str) else None
