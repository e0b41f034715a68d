"""The event store contract. Every backend behaves the same; tests/contract runs against each.

Streams are named ``<category>-<id>``; the category is the part before the first ``-``.
Stream versions count from 0. Every recorded event also has a global ``position`` that increases.
Positions are opaque increasing ints: ``0`` means "before everything".
"""
from __future__ import annotations

import abc
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone


class _StreamState:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


NO_STREAM = _StreamState("NO_STREAM")  # the stream must not exist yet
ANY = _StreamState("ANY")  # no concurrency check


class WrongExpectedVersion(Exception):
    def __init__(self, stream, expected, actual):
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(f"{stream}: expected version {expected!r}, actual {actual!r}")


class EventStoreError(Exception):
    pass


def category_of(stream: str) -> str:
    return stream.split("-", 1)[0]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class NewEvent:
    type: str
    data: dict
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema_version: int = 1
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedEvent:
    id: str
    stream: str
    version: int
    position: int
    type: str
    schema_version: int
    data: dict
    recorded_at: datetime
    metadata: dict

    @property
    def category(self) -> str:
        return category_of(self.stream)

    def to_dict(self) -> dict:
        """The JSON envelope: what the relay publishes, feeds return and webhooks post."""
        return {
            "id": self.id,
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "recorded_at": self.recorded_at.isoformat(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RecordedEvent":
        recorded_at = d["recorded_at"]
        if isinstance(recorded_at, str):
            recorded_at = datetime.fromisoformat(recorded_at)
        return cls(
            id=str(d["id"]),
            stream=d["stream"],
            version=int(d["version"]),
            position=int(d["position"]),
            type=d["type"],
            schema_version=int(d.get("schema_version", 1)),
            data=d.get("data") or {},
            recorded_at=recorded_at,
            metadata=d.get("metadata") or {},
        )


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


class EventStore(abc.ABC):
    """One small interface; SQLite (embedded default) and KurrentDB implement it."""

    @abc.abstractmethod
    def append(self, stream: str, events: list[NewEvent], expected_version, unchanged=None) -> int:
        """Append atomically; returns the global position of the last event.

        ``expected_version`` is an int (the current last version), ``NO_STREAM`` or ``ANY``.
        A mismatch raises ``WrongExpectedVersion``. Appending again exactly the events (same ids)
        that are already there succeeds and duplicates nothing.

        ``unchanged`` ({other stream: int version or NO_STREAM}) makes the append conditional on streams it
        does not write to: if one of them has moved on when the append would commit, nothing is appended and
        ``WrongExpectedVersion`` names that stream. A decision taken on another aggregate's state (a period
        lock) is thus appended only while that state still holds. SQLite checks this in the append's own
        transaction; KurrentDB checks just before the append (see ``KurrentEventStore._check_unchanged``).
        """

    @abc.abstractmethod
    def read_stream(self, stream: str, from_version: int = 0, limit: int | None = None) -> list[RecordedEvent]:
        """Events of one stream with version >= from_version, in order. Unknown stream: []."""

    @abc.abstractmethod
    def stream_version(self, stream: str) -> int | None:
        """The last version of the stream, or None when it does not exist."""

    @abc.abstractmethod
    def read_all(self, after_position: int = 0, categories=None, limit: int = 1000) -> list[RecordedEvent]:
        """Up to ``limit`` events with position > after_position in global order, optionally
        only those whose stream category is in ``categories``."""

    @abc.abstractmethod
    def head_position(self, categories=None) -> int:
        """The position of the last event (of those categories), 0 when there is none."""

    pushes = False  # True where the backend pushes new events (a KurrentDB subscription), not only polling

    def subscribe(self, after_position: int = 0, categories=None, poll_interval: float = 0.2):
        """Catch up from ``after_position``, then follow live appends. Returns a Subscription:
        iterate it for events; call ``stop()`` to end it."""
        return PollingSubscription(self, after_position, categories, poll_interval)

    def close(self):  # noqa: B027 - optional for backends that hold connections
        pass


class PollingSubscription:
    """Catch-up then live, by paging ``read_all``. Good for an embedded store."""

    def __init__(self, store, after_position, categories, poll_interval):
        self.store, self.position, self.categories = store, after_position, categories
        self.poll_interval = poll_interval
        self._stopped = False
        self._buffer: list[RecordedEvent] = []

    def stop(self):
        self._stopped = True

    def __iter__(self):
        return self

    def __next__(self) -> RecordedEvent:
        import time

        while not self._stopped:
            if not self._buffer:
                self._buffer = self.store.read_all(self.position, self.categories, limit=500)
            if self._buffer:
                event = self._buffer.pop(0)
                self.position = event.position
                return event
            time.sleep(self.poll_interval)  # green under eventlet's monkey patch
        raise StopIteration
