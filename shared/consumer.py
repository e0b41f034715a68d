"""Consumers: other services' events, recorded once in our own store before anything acts on them.

A foreign event from stream ``S`` is recorded as the same event (same id, same version) in our
stream ``<service>~S``, appended with the expected version ``version - 1``. A second delivery is
then an idempotent re-append and changes nothing; a delivery that arrives before its predecessors
(a gap) triggers a catch-up through the source's feed.

AMQP is the fast path. On start-up and at an interval the consumer pages the source's feed
(``events_since`` over RPC) from its checkpoint, so nothing published while it was down is lost.
"""
from __future__ import annotations

import logging
import threading
import time

from nameko.standalone.rpc import ClusterRpcProxy

from . import observe
from .eventstore.base import NO_STREAM, NewEvent, RecordedEvent, WrongExpectedVersion

log = logging.getLogger(__name__)

RECORDED, DUPLICATE, GAP = "recorded", "duplicate", "gap"


def mirror_stream(receiver: str, source_stream: str) -> str:
    return f"{receiver}~{source_stream}"


def mirror_category(receiver: str, source_category: str) -> str:
    return f"{receiver}~{source_category}"


class Consumer:
    def __init__(self, service_name, store, state, sources: dict, config: dict, rpc_timeout=10.0, page=500):
        self.service_name = service_name
        self.store, self.state = store, state
        self.sources = dict(sources)  # source service -> its categories
        self.config = config
        self.rpc_timeout = rpc_timeout
        self.page = page
        self._pull_locks = {source: threading.Lock() for source in self.sources}
        self._proxies = {}  # source -> (ClusterRpcProxy, its cluster): kept open, a call costs ~2 ms, a new proxy ~15
        self._suspended = {}  # source -> monotonic time until which commands do not wait on its feed

    @property
    def categories(self) -> list[str]:
        return [mirror_category(self.service_name, c) for cats in self.sources.values() for c in cats]

    def checkpoint_name(self, source):
        return f"consumer:{source}"

    def record(self, source: str, envelope: dict) -> str:
        """Record one foreign event. Returns RECORDED, DUPLICATE or GAP."""
        event = RecordedEvent.from_dict(envelope)
        if event.category not in self.sources.get(source, ()):
            return DUPLICATE  # not a category we follow: nothing to record
        stream = mirror_stream(self.service_name, event.stream)
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
            if exc.actual is not None and exc.actual >= event.version:
                return DUPLICATE
            return GAP
        return RECORDED

    def receive(self, source: str, envelope: dict) -> str:
        """The AMQP fast path. A gap makes us pull the source's feed at once."""
        outcome = self.record(source, envelope)
        if outcome == GAP:
            log.info("%s: gap before %s from %s; pulling its feed", self.service_name, envelope.get("id"), source)
            self.pull(source)
            outcome = self.record(source, envelope)
            if outcome == GAP:
                log.warning("%s: %s from %s still has a gap; the periodic catch-up will retry",
                            self.service_name, envelope.get("id"), source)
        observe.consumer_record(self.service_name, source, outcome)
        return outcome

    def pull(self, source: str) -> int:
        """Page the source's feed from our checkpoint until we have everything. Returns events recorded."""
        recorded = 0
        with self._pull_locks[source]:
            try:
                feed = getattr(self._cluster(source), source)
                while True:
                    start = self.state.get_checkpoint(self.checkpoint_name(source))
                    page = feed.events_since(position=start, limit=self.page)
                    events = page["events"]
                    for envelope in events:
                        outcome = self.record(source, envelope)
                        observe.consumer_record(self.service_name, source, outcome)
                        if outcome == GAP:
                            raise RuntimeError(f"feed of {source} has a gap before event {envelope['id']}")
                        recorded += outcome == RECORDED
                    if not events:
                        self._suspended.pop(source, None)
                        return recorded
                    self.state.save_checkpoint(self.checkpoint_name(source), events[-1]["position"])
            except Exception:
                self._drop_proxy(source)  # a broken connection must not poison the next pull
                raise

    def suspended(self, source) -> bool:
        return time.monotonic() < self._suspended.get(source, 0.0)

    def suspend(self, source, seconds: float):
        """A source whose feed did not answer: commands stop waiting on it for a while (the periodic
        catch-up keeps trying, and a success lifts this at once)."""
        self._suspended[source] = time.monotonic() + seconds

    def _cluster(self, source):
        if source not in self._proxies:
            proxy = ClusterRpcProxy(self.config, timeout=self.rpc_timeout)
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

    def pull_all(self) -> int:
        total = 0
        for source in self.sources:
            try:
                total += self.pull(source)
            except Exception as exc:  # the source may be down: the next round retries
                log.info("%s: catch-up from %s failed: %s", self.service_name, source, exc)
        return total
