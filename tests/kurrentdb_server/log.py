"""The test server's database: one in-memory transaction log, its streams and ``$all``.

Semantics follow KurrentDB's documented behaviour, as far as a client can see it:
- stream revisions count from 0 and have no gaps;
- every record has a log position (a byte offset: positions grow by the record's size, so they
  are not consecutive numbers); commit and prepare positions are equal, one per event, and an
  append returns the position of its last event;
- an append checks the expected revision (a number, "no stream", "any" or "stream exists");
- appending the same event ids again is idempotent: it succeeds, writes nothing and answers with
  the revision and position of the events already written. A retry that matches only part of the
  events already written is a wrong expected version, as on the server;
- reading ``$all`` forwards from a position includes the event at that position, backwards from a
  position excludes it, and a position that is not an event's (or the end of the log) is invalid;
- the log starts with a few system events (type and stream beginning with ``$``), as a fresh node's
  does, so a client's default filters are exercised.
"""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from dataclasses import dataclass

ANY = "any"
NO_STREAM = "no_stream"
STREAM_EXISTS = "stream_exists"
MAX_APPEND_SIZE = 1024 * 1024  # the server's default MaxAppendSize, in bytes of data and metadata
RECORD_OVERHEAD = 100  # bytes a record takes besides its names, data and metadata (roughly)


class WrongExpectedRevision(Exception):
    def __init__(self, stream: str, expected, current: int | None):
        super().__init__(f"WrongExpectedVersion. Stream: {stream}, expected {expected}, current {current}")
        self.stream, self.expected, self.current = stream, expected, current


class InvalidPosition(Exception):
    pass


class MaximumAppendSizeExceeded(Exception):
    def __init__(self, size: int):
        super().__init__(f"Maximum Append Size of {MAX_APPEND_SIZE} Exceeded: {size}")
        self.max_size = MAX_APPEND_SIZE


class StreamNotFound(Exception):
    pass


@dataclass(frozen=True)
class Proposed:
    """An event as a client proposes it."""

    event_id: str
    type: str
    content_type: str
    data: bytes
    custom_metadata: bytes


@dataclass(frozen=True)
class Record:
    """An event as the log holds it."""

    event_id: str
    stream: str
    revision: int
    position: int
    type: str
    content_type: str
    data: bytes
    custom_metadata: bytes
    created: int  # 100-nanosecond ticks since the Unix epoch, as the server sends them

    @property
    def size(self) -> int:
        return (
            RECORD_OVERHEAD
            + len(self.stream.encode())
            + len(self.type.encode())
            + len(self.data)
            + len(self.custom_metadata)
        )


@dataclass(frozen=True)
class Appended:
    """The outcome of an append: the stream's revision after it and the position of its last event."""

    revision: int | None
    position: int | None
    idempotent: bool = False


def system_events() -> list[tuple[str, Proposed]]:
    """What a fresh node writes before any client does (users and settings)."""

    def event(type_, data):
        return Proposed(str(uuid.uuid4()), type_, "application/json", data, b"")

    return [
        ("$user-admin", event("$UserCreated", b'{"loginName":"admin","fullName":"KurrentDB Administrator"}')),
        ("$user-ops", event("$UserCreated", b'{"loginName":"ops","fullName":"KurrentDB Operations"}')),
        ("$settings", event("$settings", b'{"$userStreamAcl":{"$r":"$all"},"$systemStreamAcl":{"$r":"$admins"}}')),
    ]


class Log:
    """Thread-safe; readers take snapshots, subscribers wait on ``changed``."""

    def __init__(self, seed: bool = True):
        self.changed = threading.Condition()
        self._records: list[Record] = []
        self._positions: list[int] = []
        self._streams: dict[str, list[Record]] = {}
        self._end = 0  # where the next record goes: the writer's checkpoint
        if seed:
            for stream, proposed in system_events():
                self.append(stream, ANY, [proposed])

    # -- writes -------------------------------------------------------------------------------
    def append(self, stream: str, expected, proposed: list[Proposed]) -> Appended:
        size = sum(len(p.data) + len(p.custom_metadata) for p in proposed)
        if size > MAX_APPEND_SIZE:
            raise MaximumAppendSizeExceeded(size)
        with self.changed:
            existing = self._streams.get(stream, [])
            current = existing[-1].revision if existing else None
            already = self._already_written(stream, existing, current, expected, proposed)
            if already is not None:
                return already
            if not proposed:
                return Appended(current, None)
            created = time.time_ns() // 100
            written = []
            for offset, event in enumerate(proposed):
                record = Record(
                    event_id=event.event_id,
                    stream=stream,
                    revision=(-1 if current is None else current) + 1 + offset,
                    position=self._end,
                    type=event.type,
                    content_type=event.content_type,
                    data=event.data,
                    custom_metadata=event.custom_metadata,
                    created=created,
                )
                written.append(record)
                self._records.append(record)
                self._positions.append(record.position)
                self._end += record.size
            self._streams.setdefault(stream, []).extend(written)
            self.changed.notify_all()
            return Appended(written[-1].revision, written[-1].position)

    @staticmethod
    def _already_written(stream, existing, current, expected, proposed) -> Appended | None:
        """None when the append goes ahead; the earlier outcome when it is an idempotent retry.
        Raises WrongExpectedRevision."""
        ids = [p.event_id for p in proposed]

        def match_from(revision: int) -> Appended | None:
            # the proposed ids written at ``revision`` onwards: all (idempotent), none, or some (refused)
            found = [r.event_id for r in existing[revision : revision + len(ids)]]
            if ids and found == ids:
                last = existing[revision + len(ids) - 1]
                return Appended(last.revision, last.position, idempotent=True)
            if ids and found and found[0] == ids[0]:
                raise WrongExpectedRevision(stream, expected, current)  # a corrupted idempotent retry
            return None

        if expected == NO_STREAM:
            if current is None:
                return None
            earlier = match_from(0)
            if earlier is None:
                raise WrongExpectedRevision(stream, expected, current)
            return earlier
        if expected in (ANY, STREAM_EXISTS):
            if current is None:
                if expected == STREAM_EXISTS:
                    raise WrongExpectedRevision(stream, expected, current)
                return None
            first = next((r.revision for r in existing if ids and r.event_id == ids[0]), None)
            return None if first is None else match_from(first)
        expected = int(expected)
        if current == expected:
            return None
        if current is not None and current > expected:
            earlier = match_from(expected + 1)
            if earlier is not None:
                return earlier
        raise WrongExpectedRevision(stream, expected, current)

    # -- reads --------------------------------------------------------------------------------
    @property
    def end(self) -> int:
        with self.changed:
            return self._end

    def read_stream(self, stream: str, revision, backwards: bool, count: int) -> list[Record]:
        """``revision`` is a number, "start" or "end"."""
        with self.changed:
            existing = self._streams.get(stream)
            if not existing:
                raise StreamNotFound(stream)
            if backwards:
                last = len(existing) - 1 if revision in ("start", "end") else min(int(revision), len(existing) - 1)
                if revision == "start":
                    last = 0
                return existing[last::-1][:count] if last >= 0 else []
            first = 0 if revision == "start" else len(existing) if revision == "end" else int(revision)
            return existing[first : first + count]

    def index_after(self, position) -> int:
        """The index in the log of the first record after ``position`` ("start", "end" or a number)."""
        with self.changed:
            if position == "start":
                return 0
            if position == "end":
                return len(self._records)
            return self._index(int(position), inclusive=False)

    def index_from(self, position) -> int:
        """The index of the first record at or after ``position``."""
        with self.changed:
            if position == "start":
                return 0
            if position == "end":
                return len(self._records)
            return self._index(int(position), inclusive=True)

    def _index(self, position: int, inclusive: bool) -> int:
        index = bisect.bisect_left(self._positions, position)
        at_record = index < len(self._positions) and self._positions[index] == position
        if not at_record and position < self._end:
            raise InvalidPosition(position)
        return index if inclusive or not at_record else index + 1

    def records(self, start: int, stop: int | None = None) -> list[Record]:
        """A snapshot of the log from index ``start`` (to ``stop``)."""
        with self.changed:
            return self._records[start:stop]

    def __len__(self) -> int:
        with self.changed:
            return len(self._records)

    def wait_beyond(self, index: int, timeout: float) -> bool:
        """Wait until the log has a record at ``index``; False after ``timeout``."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self._records) > index, timeout)
