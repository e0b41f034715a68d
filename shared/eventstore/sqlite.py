"""SQLite event store: the embedded default.

WAL mode, and every write takes the write lock up front (``BEGIN IMMEDIATE``) so that the
expected-version check and the insert are one atomic step, across threads and processes.
``synchronous=FULL`` by default: an acknowledged append survives a power loss.

Under eventlet (a service), appends that arrive together share one transaction and so one fsync (group commit):
each runs under a SAVEPOINT of its own, so one that fails (a wrong expected version) is rolled back alone, and every
caller returns only after the COMMIT. The COMMIT (and its fsync) runs on the hub: the service pauses for the length of
an fsync, which costs less than handing it to a real thread would (docs/performance.md). Reads use a second
connection, which WAL lets read beside the writer.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import datetime

from eventlet import patcher
from eventlet.event import Event

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

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    stream         TEXT NOT NULL,
    category       TEXT NOT NULL,
    version        INTEGER NOT NULL,
    type           TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data           TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_by_category ON events (category, position);
"""

LOCK_WAIT_SECONDS = 30.0


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class SQLiteEventStore(EventStore):
    def __init__(self, path: str, synchronous: str = "FULL"):
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # A short C-level busy timeout; longer waits happen in Python so eventlet can switch.
        self._conn = sqlite3.connect(path, timeout=0.05, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._retry(lambda: self._conn.execute("PRAGMA journal_mode=WAL"))
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._retry(lambda: self._conn.executescript(SCHEMA))
        self._grouped = patcher.is_monkey_patched("thread") and path != ":memory:"
        if self._grouped:
            self._reader = sqlite3.connect(path, timeout=0.05, isolation_level=None, check_same_thread=False)
            self._read_lock = threading.RLock()
        else:
            self._reader, self._read_lock = self._conn, self._lock
        self._queue: list[_Append] = []
        self._committing = False

    def _retry(self, fn):
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        delay = 0.001
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)  # green under eventlet's monkey patch
            delay = min(delay * 2, 0.05)

    # -- writes -------------------------------------------------------------------------------
    def append(self, stream, events, expected_version, unchanged=None):
        if not events:
            raise ValueError("append needs at least one event")
        if "-" not in stream:
            raise ValueError(f"stream name {stream!r} must be <category>-<id>")
        if not self._grouped:
            with self._lock:
                self._retry(lambda: self._conn.execute("BEGIN IMMEDIATE"))
                try:
                    position = self._append_locked(stream, events, expected_version, unchanged or {})
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                return position
        request = _Append(stream, events, expected_version, unchanged or {})
        self._queue.append(request)
        if self._committing:
            request.turn.wait()  # done by the committer, or handed the committer's role
        while not request.done:
            self._commit_queued()
        if request.error is not None:
            raise request.error
        return request.position

    def _commit_queued(self):
        """One transaction for every queued append; the next committer is the first caller still waiting."""
        self._committing = True
        batch = []
        try:
            time.sleep(0)  # eventlet: the appends already on their way join this transaction
            batch, self._queue = self._queue, []
            with self._lock:
                self._retry(lambda: self._conn.execute("BEGIN IMMEDIATE"))
                try:
                    for request in batch:
                        self._conn.execute("SAVEPOINT append")
                        try:
                            request.position = self._append_locked(request.stream, request.events,
                                                                   request.expected_version, request.unchanged)
                        except Exception as exc:  # this append alone is refused
                            self._conn.execute("ROLLBACK TO SAVEPOINT append")
                            request.error = exc
                        self._conn.execute("RELEASE SAVEPOINT append")
                    # On the hub, not on a real thread: handing the COMMIT to eventlet's tpool cost more CPU (0.15-0.2
                    # ms, mostly GIL hand-offs) than the fsync takes on a local SSD (0.2-0.3 ms), and every service
                    # commits once per command or recorded event. Appends that arrived meanwhile still share it.
                    self._conn.execute("COMMIT")
                except BaseException as exc:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    for request in batch:
                        request.error = request.error or exc
        finally:
            self._committing = False
            for request in batch:
                request.done = True
                if not request.turn.ready():
                    request.turn.send()
            if self._queue and not self._queue[0].turn.ready():
                self._queue[0].turn.send()  # it commits the next batch (its own append first)

    def _append_locked(self, stream, events: list[NewEvent], expected_version, unchanged: dict):
        conn = self._conn
        ids = [str(e.id) for e in events]
        marks = ",".join("?" * len(ids))
        existing = conn.execute(
            f"SELECT id, stream, version, position FROM events WHERE id IN ({marks}) ORDER BY position", ids
        ).fetchall()
        if existing:
            # Idempotent re-append: exactly these events, in this order, already in this stream.
            if (
                len(existing) == len(ids)
                and [row[0] for row in existing] == ids
                and all(row[1] == stream for row in existing)
                and [row[2] for row in existing] == list(range(existing[0][2], existing[0][2] + len(ids)))
            ):
                return existing[-1][3]
            raise EventStoreError(f"event ids already used elsewhere: {[r[0] for r in existing]}")
        for other, version in unchanged.items():  # checked in this transaction: nothing can move them now
            actual = conn.execute("SELECT MAX(version) FROM events WHERE stream = ?", (other,)).fetchone()[0]
            if actual != (None if version is NO_STREAM else int(version)):
                raise WrongExpectedVersion(other, "NO_STREAM" if version is NO_STREAM else version, actual)
        row = conn.execute("SELECT MAX(version) FROM events WHERE stream = ?", (stream,)).fetchone()
        current = row[0]
        if expected_version is NO_STREAM:
            if current is not None:
                raise WrongExpectedVersion(stream, "NO_STREAM", current)
        elif expected_version is not ANY:
            if current is None or current != int(expected_version):
                raise WrongExpectedVersion(stream, expected_version, current)
        version = -1 if current is None else current
        recorded_at = now_utc().isoformat()
        category = category_of(stream)
        cur = None
        for event in events:
            version += 1
            cur = conn.execute(
                "INSERT INTO events (id, stream, category, version, type, schema_version, data, metadata, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(event.id),
                    stream,
                    category,
                    version,
                    event.type,
                    int(event.schema_version),
                    dumps(event.data),
                    dumps(event.metadata or {}),
                    recorded_at,
                ),
            )
        return cur.lastrowid

    # -- reads --------------------------------------------------------------------------------
    @staticmethod
    def _row(row) -> RecordedEvent:
        position, id_, stream, version, type_, schema_version, data, metadata, recorded_at = row
        return RecordedEvent(
            id=id_,
            stream=stream,
            version=version,
            position=position,
            type=type_,
            schema_version=schema_version,
            data=json.loads(data),
            recorded_at=datetime.fromisoformat(recorded_at),
            metadata=json.loads(metadata),
        )

    _COLUMNS = "position, id, stream, version, type, schema_version, data, metadata, recorded_at"

    def _query(self, sql, args):
        with self._read_lock:
            return self._retry(lambda: self._reader.execute(sql, args).fetchall())

    def read_stream(self, stream, from_version=0, limit=None):
        sql = f"SELECT {self._COLUMNS} FROM events WHERE stream = ? AND version >= ? ORDER BY version"
        args = [stream, int(from_version)]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [self._row(r) for r in self._query(sql, args)]

    def stream_version(self, stream):
        return self._query("SELECT MAX(version) FROM events WHERE stream = ?", (stream,))[0][0]

    def read_all(self, after_position=0, categories=None, limit=1000):
        args: list = [int(after_position or 0)]
        sql = f"SELECT {self._COLUMNS} FROM events WHERE position > ?"
        if categories:
            categories = list(categories)
            sql += f" AND category IN ({','.join('?' * len(categories))})"
            args += categories
        sql += " ORDER BY position LIMIT ?"
        args.append(int(limit))
        return [self._row(r) for r in self._query(sql, args)]

    def head_position(self, categories=None):
        if categories:
            categories = list(categories)
            sql = f"SELECT MAX(position) FROM events WHERE category IN ({','.join('?' * len(categories))})"
            row = self._query(sql, categories)
        else:
            row = self._query("SELECT MAX(position) FROM events", ())
        return row[0][0] or 0

    def close(self):
        with self._lock:
            self._conn.close()
        if self._reader is not self._conn:
            with self._read_lock:
                self._reader.close()


class _Append:
    """One caller's append, waiting in the group commit's queue."""

    def __init__(self, stream, events, expected_version, unchanged):
        self.stream, self.events, self.expected_version, self.unchanged = stream, events, expected_version, unchanged
        self.position = self.error = None
        self.done = False
        self.turn = Event()  # sent when done, or when this caller is to commit the next batch
