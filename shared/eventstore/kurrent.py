"""KurrentDB (EventStoreDB) event store over kurrentdbclient, the production backend.

kurrentdbclient speaks gRPC, which does not cooperate with eventlet: every call runs in a real OS
thread through ``offhub.call`` and a subscription is pumped by ``offhub.OffHubIterator``. At import,
gRPC and kurrentdbclient are pointed at the real threading module (see offhub.py).

Mapping of our envelope:
- ``position`` is the event's commit position in ``$all``; ``version`` its stream position.
- data and metadata are JSON. ``schema_version`` travels in the metadata under ``$schema_version``
  (and the append time under ``$recorded_at``, a fallback for the server's own time); both are
  stripped on read. An event id that is not a canonical UUID is stored under ``$event_id`` and the
  server gets a uuid5 of it.
- categories are server-side stream-name prefix filters (``<category>-``); system events are excluded.
- the server refuses to read ``$all`` from a commit position where no event is; the contract takes
  any position, so reads and subscriptions then start at the beginning and skip up to it.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime

import kurrentdbclient
import kurrentdbclient.client
import kurrentdbclient.common
import kurrentdbclient.persistent
from kurrentdbclient import KurrentDBClient, StreamState
from kurrentdbclient import NewEvent as KNewEvent
from kurrentdbclient.exceptions import (
    InvalidCommitPositionError,
    KurrentDBClientError,
    NotFoundError,
    WrongCurrentVersionError,
)

from . import offhub
from .base import (
    ANY,
    NO_STREAM,
    EventStore,
    EventStoreError,
    NewEvent,
    RecordedEvent,
    WrongExpectedVersion,
    category_of,
    dumps,
    now_utc,
)

offhub.use_real_threads_for_grpc()
offhub.use_real_threads(kurrentdbclient.client, kurrentdbclient.common, kurrentdbclient.persistent)

SCHEMA_VERSION_KEY = "$schema_version"
RECORDED_AT_KEY = "$recorded_at"
EVENT_ID_KEY = "$event_id"
RESERVED_KEYS = (SCHEMA_VERSION_KEY, RECORDED_AT_KEY, EVENT_ID_KEY)
EVENT_ID_NAMESPACE = uuid.UUID("5b0c7f5e-3f0e-4d55-9f3c-6f1d2a8e0c11")


def _server_id(event_id: str) -> tuple[uuid.UUID, bool]:
    """The UUID the server stores, and whether it spells our id exactly."""
    try:
        parsed = uuid.UUID(event_id)
    except ValueError:
        return uuid.uuid5(EVENT_ID_NAMESPACE, event_id), False
    return parsed, str(parsed) == event_id


def _visible(raw, categories) -> bool:
    """Ours to show: not a system event, and in one of the categories when they are given."""
    if raw.type.startswith("$") or raw.stream_name.startswith("$"):
        return False
    return not categories or category_of(raw.stream_name) in categories


def _filters(categories) -> dict:
    if not categories:
        return {}  # the client's default excludes system event types
    return {
        "filter_include": tuple(f"{category}-" for category in sorted(categories)),
        "filter_by_stream_name": True,
        "filter_by_prefix": True,
    }


def _categories(categories):
    return frozenset(categories) if categories else None


class KurrentEventStore(EventStore):
    def __init__(self, uri: str, timeout: float = 30.0):
        self.uri = uri
        self.timeout = timeout  # the deadline of each request; subscriptions have none
        self._client = offhub.call(KurrentDBClient, uri=uri)

    def _call(self, fn, *args, **kwargs):
        try:
            return offhub.call(fn, *args, **kwargs)
        except KurrentDBClientError as exc:
            raise EventStoreError(f"KurrentDB: {type(exc).__name__}: {exc}") from exc

    # -- conversion ---------------------------------------------------------------------------
    @staticmethod
    def _new_event(event: NewEvent, recorded_at: str) -> KNewEvent:
        event_id = str(event.id)
        server_id, exact = _server_id(event_id)
        metadata = dict(event.metadata or {})
        metadata[SCHEMA_VERSION_KEY] = int(event.schema_version)
        metadata[RECORDED_AT_KEY] = recorded_at
        if not exact:
            metadata[EVENT_ID_KEY] = event_id
        return KNewEvent(
            type=event.type,
            data=dumps(event.data).encode("utf-8"),
            metadata=dumps(metadata).encode("utf-8"),
            content_type="application/json",
            id=server_id,
        )

    @staticmethod
    def _recorded(raw) -> RecordedEvent:
        try:
            metadata = json.loads(raw.metadata) if raw.metadata else {}
        except ValueError:  # written by another tool
            metadata = {}
        if not isinstance(metadata, dict):
            metadata = {}
        schema_version = int(metadata.pop(SCHEMA_VERSION_KEY, 1))
        appended_at = metadata.pop(RECORDED_AT_KEY, None)
        event_id = metadata.pop(EVENT_ID_KEY, None) or str(raw.id)
        recorded_at = raw.recorded_at
        if recorded_at is None:
            recorded_at = datetime.fromisoformat(appended_at) if appended_at else now_utc()
        return RecordedEvent(
            id=event_id,
            stream=raw.stream_name,
            version=raw.stream_position,
            position=raw.commit_position,
            type=raw.type,
            schema_version=schema_version,
            data=json.loads(raw.data) if raw.data else {},
            recorded_at=recorded_at,
            metadata=metadata,
        )

    # -- writes -------------------------------------------------------------------------------
    def append(self, stream, events, expected_version, unchanged=None):
        if not events:
            raise ValueError("append needs at least one event")
        if "-" not in stream:
            raise ValueError(f"stream name {stream!r} must be <category>-<id>")
        if expected_version is NO_STREAM:
            current_version = StreamState.NO_STREAM
        elif expected_version is ANY:
            current_version = StreamState.ANY
        else:
            current_version = int(expected_version)
        recorded_at = now_utc().isoformat()
        new_events = [self._new_event(e, recorded_at) for e in events]
        if unchanged:
            self._call(self._check_unchanged, unchanged)
        return self._call(self._append, stream, new_events, current_version, expected_version)

    def _check_unchanged(self, unchanged):
        """The other streams' versions, checked just before the append. Not atomic with it: KurrentDB 25.0 (the
        version deploy/ runs) has no append conditional on another stream (AppendRecords' consistency checks
        need 26.1), so a change committed in the few milliseconds between this read and the append is missed.
        SQLite checks inside the append's transaction."""
        for other, version in unchanged.items():
            actual = self._client.get_current_version(other, timeout=self.timeout)
            actual = None if actual is StreamState.NO_STREAM else int(actual)
            if actual != (None if version is NO_STREAM else int(version)):
                raise WrongExpectedVersion(other, "NO_STREAM" if version is NO_STREAM else version, actual)

    def _append(self, stream, new_events, current_version, expected_version) -> int:
        try:
            # A list goes through BatchAppend: all events or none. Same ids again: idempotent.
            return self._client.append_to_stream(
                stream, events=new_events, current_version=current_version, timeout=self.timeout
            )
        except WrongCurrentVersionError as exc:
            actual = exc.actual_version
            actual = None if actual is StreamState.NO_STREAM else actual
            expected = "NO_STREAM" if expected_version is NO_STREAM else expected_version
            raise WrongExpectedVersion(stream, expected, actual) from None

    # -- reads --------------------------------------------------------------------------------
    def read_stream(self, stream, from_version=0, limit=None):
        if limit is not None and int(limit) <= 0:
            return []
        return self._call(self._read_stream, stream, int(from_version or 0), limit)

    def _read_stream(self, stream, from_version, limit):
        try:
            raws = self._client.get_stream(
                stream,
                stream_position=from_version,
                limit=sys.maxsize if limit is None else int(limit),
                timeout=self.timeout,
            )
        except NotFoundError:
            return []
        return [self._recorded(raw) for raw in raws]

    def stream_version(self, stream):
        version = self._call(self._client.get_current_version, stream, timeout=self.timeout)
        return None if version is StreamState.NO_STREAM else int(version)

    def read_all(self, after_position=0, categories=None, limit=1000):
        if int(limit) <= 0:
            return []
        return self._call(self._read_all, int(after_position or 0), _categories(categories), int(limit))

    def _read_all(self, after, categories, limit) -> list[RecordedEvent]:
        # Reading forwards from a commit position includes the event at that position, so ask for
        # one more and drop it. Keep reading while whole batches are filtered out or skipped.
        # The server refuses a position where no event is (InvalidCommitPositionError), yet a caller
        # may pass any number (the feed takes one): then read from the start and skip up to it.
        found: list[RecordedEvent] = []
        cursor = after  # everything up to here is behind us
        start = after or None  # where the next read begins: an event's position, or the start
        restarted = False
        while len(found) < limit:
            want = limit - len(found) + 1
            try:
                with self._client.read_all(
                    commit_position=start, limit=want, timeout=self.timeout, **_filters(categories)
                ) as response:
                    batch = list(response)
            except InvalidCommitPositionError:
                if start is None or restarted:  # positions read from the server itself are never refused
                    raise
                start, restarted = None, True
                continue
            for raw in batch:
                if raw.commit_position <= cursor:
                    continue
                cursor = raw.commit_position
                if _visible(raw, categories):
                    found.append(self._recorded(raw))
                    if len(found) == limit:
                        break
            if len(batch) < want:  # the end of $all (or of what the filter lets through)
                break
            start = batch[-1].commit_position  # an event's: read on from there
        return found

    def head_position(self, categories=None):
        return self._call(self._head_position, _categories(categories))

    def _head_position(self, categories) -> int:
        with self._client.read_all(backwards=True, timeout=self.timeout, **_filters(categories)) as response:
            for raw in response:
                if _visible(raw, categories):
                    return raw.commit_position
        return 0

    # -- subscriptions ------------------------------------------------------------------------
    pushes = True

    def subscribe(self, after_position=0, categories=None, poll_interval=None):
        """Catch up from ``after_position``, then follow live (``subscribe_to_all``).
        ``poll_interval`` is ignored: the server pushes."""
        return KurrentSubscription(self, after_position, categories)

    def close(self):
        if not self._client.is_closed:
            self._call(self._client.close)


class KurrentSubscription:
    """Iterate for RecordedEvents; ``stop()`` ends it. A lost connection raises EventStoreError:
    resubscribe from ``position`` (the last event handed out)."""

    def __init__(self, store: KurrentEventStore, after_position, categories):
        self.position = int(after_position or 0)
        self._store = store
        self._categories = _categories(categories)
        self._from_start = not self.position
        # the event at a given commit position is not repeated
        self._events = self._open(self.position or None)

    def _open(self, start):
        def open_subscription():
            return self._store._client.subscribe_to_all(commit_position=start, **_filters(self._categories))

        return offhub.OffHubIterator(
            open_subscription, cancel=lambda subscription: subscription.stop(), name="kurrentdb-subscription"
        )

    def __iter__(self):
        return self

    def __next__(self) -> RecordedEvent:
        while True:
            try:
                raw = next(self._events)
            except InvalidCommitPositionError as exc:
                # no event at the position we were given (a caller's own number): from the start,
                # skipping up to it (the check below)
                if self._from_start or self._events.stopped:
                    raise EventStoreError(f"KurrentDB subscription: {type(exc).__name__}: {exc}") from exc
                self._from_start = True
                self._events = self._open(None)
                continue
            except KurrentDBClientError as exc:
                raise EventStoreError(f"KurrentDB subscription: {type(exc).__name__}: {exc}") from exc
            if raw.commit_position <= self.position or not _visible(raw, self._categories):
                continue
            event = self._store._recorded(raw)
            self.position = event.position
            return event

    def stop(self):
        self._events.stop()
