"""Read models: SQLite tables fed from the event store, each with its checkpoint stored in the
same transaction as its rows, so a crash never applies an event twice or skips one.

A projection handles event types in methods ``on_<EventType>(db, event)``. ``rebuild`` drops its
tables and replays the store, which must give exactly the live state.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    version  INTEGER NOT NULL DEFAULT 1
);
"""


class ViewStore:
    """One SQLite file per service for read models and local checkpoints."""

    def __init__(self, path: str, synchronous: str = "NORMAL"):
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=0.05, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self._retry(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
        # Read models can always be rebuilt from the event store, so NORMAL is enough here.
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        self._retry(lambda: self.conn.executescript(CHECKPOINTS))

    @staticmethod
    def _retry(fn, seconds=30.0):
        deadline = time.monotonic() + seconds
        delay = 0.001
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def transaction(self):
        return _Transaction(self)

    def read(self, fn):
        with self.lock:
            return self._retry(lambda: fn(self.conn))

    def checkpoint(self, name: str, conn=None) -> int:
        conn = conn or self.conn
        row = conn.execute("SELECT position FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def set_checkpoint(self, name: str, position: int, conn=None, version: int = 1):
        (conn or self.conn).execute(
            "INSERT INTO checkpoints (name, position, version) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET position = excluded.position, version = excluded.version",
            (name, int(position), version),
        )

    def get_checkpoint(self, name: str) -> int:
        with self.lock:
            return self._retry(lambda: self.checkpoint(name))

    def save_checkpoint(self, name: str, position: int):
        with self.transaction() as conn:
            self.set_checkpoint(name, position, conn)

    def close(self):
        with self.lock:
            self.conn.close()


class _Transaction:
    def __init__(self, views: ViewStore):
        self.views = views

    def __enter__(self):
        self.views.lock.acquire()
        try:
            self.views._retry(lambda: self.views.conn.execute("BEGIN IMMEDIATE"))
        except BaseException:
            self.views.lock.release()
            raise
        return self.views.conn

    def __exit__(self, exc_type, exc, tb):
        try:
            self.views.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.views.lock.release()
        return False


class Projection:
    """Subclass: set ``name``, ``tables`` (dropped on rebuild), write ``setup`` and handlers.

    Bump ``version`` when the tables or handlers change: the runner then rebuilds it.
    """

    name = "projection"
    version = 1
    tables: tuple[str, ...] = ()

    def setup(self, db):
        pass

    def drop(self, db):
        for table in self.tables:
            db.execute(f"DROP TABLE IF EXISTS {table}")

    def handles(self, event_type: str) -> bool:
        return hasattr(self, f"on_{event_type}")

    def apply(self, db, event):
        handler = getattr(self, f"on_{event.type}", None)
        if handler is not None:
            handler(db, event)


class ProjectionRunner:
    """Feeds projections from the store: ``run_once`` catches each one up, one batch per transaction."""

    def __init__(self, store, views: ViewStore, projections, categories=None, registry=None, batch=500):
        self.store, self.views = store, views
        self.projections = list(projections)
        self.categories = list(categories) if categories else None
        self.registry = registry
        self.batch = batch
        self._run_lock = threading.RLock()
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique: {names}")
        self._prepare()

    def _prepare(self):
        for projection in self.projections:
            with self.views.transaction() as db:
                row = db.execute("SELECT version FROM checkpoints WHERE name = ?", (projection.name,)).fetchone()
                if row is not None and row[0] != projection.version:
                    log.info("projection %s changed version, rebuilding", projection.name)
                    projection.drop(db)
                    db.execute("DELETE FROM checkpoints WHERE name = ?", (projection.name,))
                projection.setup(db)
                if row is None or row[0] != projection.version:
                    self.views.set_checkpoint(projection.name, 0, db, projection.version)

    def _upcast(self, event):
        return self.registry.upcast(event) if self.registry is not None else event

    def run_once(self) -> int:
        """Catch every projection up to the store's head. Returns how many events were applied."""
        applied, failed = 0, None
        with self._run_lock:
            for projection in self.projections:
                try:
                    applied += self._catch_up(projection)
                except Exception as exc:  # this one stays at its checkpoint; the others go on
                    log.error("projection %s failed: %s", projection.name, exc)
                    failed = failed or exc
        if failed is not None:
            raise failed
        return applied

    def _catch_up(self, projection) -> int:
        applied = 0
        while True:
            head = self.store.head_position(self.categories)
            with self.views.transaction() as db:
                start = self.views.checkpoint(projection.name, db)
                if start >= head:
                    return applied
                events = self.store.read_all(start, self.categories, limit=self.batch)
                for event in events:
                    projection.apply(db, self._upcast(event))
                applied += len(events)
                last = events[-1].position if events else start
                # A short page means we saw everything up to ``head``.
                if len(events) < self.batch:
                    last = max(last, head)
                self.views.set_checkpoint(projection.name, last, db, projection.version)
            if len(events) < self.batch:
                return applied

    def position(self) -> int:
        """The position every projection has reached."""
        if not self.projections:
            return self.store.head_position(self.categories)
        return min(self.views.get_checkpoint(p.name) for p in self.projections)

    def rebuild(self, name: str | None = None):
        """Drop read models (one, or all) and replay them from the store."""
        with self._run_lock:
            for projection in self.projections:
                if name and projection.name != name:
                    continue
                with self.views.transaction() as db:
                    projection.drop(db)
                    projection.setup(db)
                    self.views.set_checkpoint(projection.name, 0, db, projection.version)
            return self.run_once()
