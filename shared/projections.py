"""Read models: SQLite tables fed from the event store, each with its checkpoint stored in the
same transaction as its rows, so a crash never applies an event twice or skips one.

A projection handles event types in methods ``on_<EventType>(db, event)``. An event that fails is
rolled back alone (its batch is redone with a SAVEPOINT per event), retried a bounded number of rounds,
then parked in the service's durable state (kind "projection") while the events after it go on.

``rebuild`` replays the store into a fresh file beside the views and swaps the rebuilt tables in,
in one transaction, only once they have caught up: until then, and if it fails, the old read model
keeps serving.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
import time
import uuid

from .eventstore.base import RecordedEvent

log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """An error that says nothing about the event (the database was busy): retried, never parked."""
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in message for word in ("locked", "busy", "disk i/o", "unable to open"))

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
                if not is_transient(exc):
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
    """Subclass: set ``name``, ``tables`` (every table it writes: a rebuild replaces exactly these), write
    ``setup`` and handlers.

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


APPLIED, SKIPPED = "applied", "skipped"


class _Careful(Exception):
    """A batch applied without SAVEPOINTs met a failing event: roll it back and redo it with them."""


class Held(Exception):
    """A projection stopped before an event that failed and may still succeed on a later round."""


class ProjectionRunner:
    """Feeds projections from the store: ``run_once`` catches each one up, one batch per transaction.

    An event whose handler raises is rolled back alone (its batch is redone with a SAVEPOINT per event); the
    good events before it are committed with the checkpoint, and the projection waits there. After
    ``max_attempts`` rounds the event is parked in ``state`` (the service's ``DurableState``) and the
    projection goes on past it. A transient error (the database busy) rolls the batch back and is retried,
    never parked. Without a ``state`` nothing can be parked: the projection waits at the failing event."""

    def __init__(self, store, views: ViewStore, projections, categories=None, registry=None, batch=500,
                 state=None, max_attempts=5):
        self.store, self.views = store, views
        self.projections = list(projections)
        self.categories = list(categories) if categories else None
        self.registry = registry
        self.batch = batch
        self.state = state
        self.max_attempts = max_attempts
        self._attempts: dict[tuple[str, str], int] = {}
        self._run_lock = threading.RLock()
        # Set by a rebuild: parkings are kept here until the rebuilt tables are swapped in.
        self.deferred_parks: list[dict] | None = None
        # (projection, event id) -> parked id of the open entries, read at each round: an event parked once and
        # applied now (a replay after a fix) resolves its entry instead of being re-applied by a retry later.
        self.parked_before: dict[tuple[str, str], int] = {}
        self.on_batch = None  # called with (projection, position reached) after each batch
        self.applied_total = 0  # events applied since this runner was made
        self._resolve_on_commit: list[tuple[str, str]] = []
        # projection -> event type -> whether it handles it (a function of the type): asked once, not per event
        self._handled: dict[str, dict[str, bool]] = {}
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

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        raise KeyError(f"no projection {name!r}; there are {', '.join(p.name for p in self.projections)}")

    def run_once(self) -> int:
        """Catch every projection up to the store's head. Returns how many events were applied."""
        applied, failed = 0, None
        with self._run_lock:
            if self.position() >= self.store.head_position(self.categories):
                return 0  # nothing new (the common case on the command path): no write transaction to find out
            if self.state is not None:  # ids only: this runs before every query that waits for a position
                self.parked_before = {(name, event_id): parked_id for name, event_id, parked_id in self.state.read(
                    lambda db: db.execute("SELECT name, event_id, id FROM parked WHERE kind = 'projection'"
                                          " AND resolved_at IS NULL").fetchall())}
            # Round by round: one transaction a round for every projection still behind (each under a SAVEPOINT of
            # its own, so one that fails is rolled back alone), and projections at the same checkpoint (all of them,
            # in a rebuild or after a burst) share each page read from the store instead of reading and decoding
            # it once each. A transaction a projection cost a BEGIN, a COMMIT and a checkpoint read for each event.
            pending = list(self.projections)
            while pending:
                done = self._round(pending)
                for projection, (batch_applied, more, error) in done.items():
                    applied += batch_applied
                    if error is not None:  # this one stays at its checkpoint; the others go on
                        log.warning("projection %s failed: %s", projection.name, error)
                        failed = failed or error
                    if not more:
                        pending.remove(projection)
        if failed is not None:
            raise failed
        return applied

    def _round(self, pending) -> dict:
        """One batch for each of ``pending``, in one transaction. Returns {projection: (events applied, whether there
        may be more, the error that stopped it or None)}: a Held error (the events before it are committed with the
        checkpoint), or any other (its batch rolled back alone)."""
        head = self.store.head_position(self.categories)
        pages: dict[int, tuple] = {}  # start position -> (the head before the read, the page read from there)
        results, reached, resolve = {}, {}, {}
        with self.views.transaction() as db:
            names = [p.name for p in pending]
            # One read of every checkpoint, in the round's transaction (no other runner can move them meanwhile).
            starts = dict(db.execute(f"SELECT name, position FROM checkpoints WHERE name IN ({','.join('?' * len(names))})",
                                     names).fetchall())
            for projection in pending:
                self._resolve_on_commit = []
                try:
                    batch_applied, more, last, held = self._batch(db, projection, starts.get(projection.name, 0),
                                                                  head, pages)
                except Exception as exc:  # its batch is rolled back alone (``_batch``)
                    results[projection] = (0, False, exc)
                    continue
                results[projection] = (batch_applied, more and held is None, held)
                if last is not None:
                    reached[projection] = last
                resolve[projection] = self._resolve_on_commit
        for projection, last in reached.items():
            for key in resolve[projection]:  # parked once, applied now (a replay after a fix)
                parked_id = self.parked_before.pop(key, None)
                if parked_id is not None:
                    self.state.resolve(parked_id)
            self.applied_total += results[projection][0]
            if self.on_batch is not None:
                self.on_batch(projection, last)
        return results

    def _batch(self, db, projection, start, head, pages: dict):
        """Apply one batch to ``projection`` from its checkpoint ``start``, in the round's transaction, with its
        checkpoint. Returns (events applied, whether there may be more, the checkpoint reached or None if it had
        nothing to do, the Held error that keeps it where it is or None). ``pages`` is shared by the projections of
        the round. What it writes, its checkpoint included, is under one SAVEPOINT, so a failure rolls back this
        batch alone; a batch with none of the projection's events only moves the checkpoint (no SAVEPOINT: ~50 us
        each, and a service with six read models met most events in five that do not handle them)."""
        if start >= head:
            return 0, False, None, None
        if start not in pages:  # read after ``head``: a short page holds everything up to it
            pages[start] = head, self.store.read_all(start, self.categories, limit=self.batch)
        page_head, events = pages[start]
        handled = self._handled.setdefault(projection.name, {})
        for event in events:
            if event.type not in handled:
                handled[event.type] = projection.handles(event.type)
        # A short page read to the end means we saw everything up to ``head``.
        end = max(events[-1].position if events else start, page_head if len(events) < self.batch else start)
        if not any(handled[event.type] for event in events):
            self.views.set_checkpoint(projection.name, end, db, projection.version)
            return 0, len(events) >= self.batch, end, None
        careful = False  # SAVEPOINTs cost ~50 us an event: only for a batch that has failed once
        while True:
            held, batch_applied, last = None, 0, start
            self._resolve_on_commit = []
            db.execute("SAVEPOINT batch")
            try:
                for event in events:
                    if not handled[event.type]:
                        last = event.position  # not its type (the other read models'): nothing to do
                        continue
                    outcome = self._apply(db, projection, event, careful)
                    if isinstance(outcome, Held):
                        held = outcome
                        break  # commit what came before it; this one is tried again next round
                    last = event.position
                    batch_applied += outcome == APPLIED
                if held is None:
                    last = max(last, end)
                self.views.set_checkpoint(projection.name, last, db, projection.version)
            except _Careful:
                db.execute("ROLLBACK TO SAVEPOINT batch")
                db.execute("RELEASE SAVEPOINT batch")
                careful = True  # rolled back whole: the same batch again, an event at a time
                continue
            except BaseException:
                db.execute("ROLLBACK TO SAVEPOINT batch")
                db.execute("RELEASE SAVEPOINT batch")
                raise
            db.execute("RELEASE SAVEPOINT batch")
            return batch_applied, len(events) >= self.batch, last, held

    def _apply(self, db, projection, event, careful=True):
        """Apply one event. Returns APPLIED, SKIPPED (not handled, or parked), or the Held error that keeps the
        projection at this event; a transient error propagates (the batch rolls back). Not ``careful``, a
        failure raises _Careful (the batch is rolled back and redone carefully); ``careful``, the event runs
        under a SAVEPOINT, so a failure undoes its writes alone."""
        if not projection.handles(event.type):
            return SKIPPED
        if not careful:
            try:
                projection.apply(db, self._upcast(event))
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise _Careful() from exc
            return self._applied(projection, event)
        key = (projection.name, event.id)
        db.execute("SAVEPOINT event")
        try:
            projection.apply(db, self._upcast(event))
        except Exception as exc:
            db.execute("ROLLBACK TO SAVEPOINT event")
            db.execute("RELEASE SAVEPOINT event")
            if is_transient(exc):
                raise
            attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
            error = f"{type(exc).__name__}: {exc}"
            if self.state is None or (attempts < self.max_attempts and key not in self.parked_before):
                log.warning("projection %s failed on %s %s (attempt %d): %s", projection.name, event.type,
                            event.id, attempts, error)
                held = Held(f"projection {projection.name} held at {event.type} {event.id}: {error}")
                held.__cause__ = exc
                return held
            self._park(projection, event, error, attempts)
            self._attempts.pop(key, None)
            return SKIPPED
        db.execute("RELEASE SAVEPOINT event")
        return self._applied(projection, event)

    def _applied(self, projection, event):
        key = (projection.name, event.id)
        self._attempts.pop(key, None)
        if key in self.parked_before:
            if self.deferred_parks is not None:  # a rebuild: resolved once swapped in
                self.deferred_parks.append({"name": projection.name, "event_id": event.id, "applied": True})
            else:
                self._resolve_on_commit.append(key)
        return APPLIED

    def _park(self, projection, event, error, attempts):
        log.error("projection %s parked %s %s after %d attempts: %s", projection.name, event.type, event.id,
                  attempts, error)
        entry = {"name": projection.name, "event_id": event.id, "stream": event.stream, "position": event.position,
                 "event_type": event.type, "reason": "handler_failed", "error": error,
                 "envelope": event.to_dict(), "attempts": attempts}
        if self.deferred_parks is not None:
            self.deferred_parks.append(entry)
        else:
            self.state.park("projection", entry.pop("name"), **entry)

    def position(self) -> int:
        """The position every projection has reached."""
        if not self.projections:
            return self.store.head_position(self.categories)
        names = [p.name for p in self.projections]
        marks = ",".join("?" * len(names))
        # one read, not one per projection: it runs several times a command (and a missing row is 0)
        rows = self.views.read(lambda db: db.execute(
            f"SELECT name, position FROM checkpoints WHERE name IN ({marks})", names).fetchall())
        reached = dict(rows)
        return min(reached.get(name, 0) for name in names)

    # -- parked events ------------------------------------------------------------------------------
    def retry_parked(self, row: dict) -> bool:
        """Apply a parked event (a row of ``DurableState.parked``) to its projection again, in one transaction.
        Returns False, applying nothing, while the projection has not yet reached the event (it is then
        applied in order by the catch-up); raises what the handler raises."""
        projection = self.projection(row["name"])
        event = self._parked_event(row)
        with self._run_lock, self.views.transaction() as db:
            if self.views.checkpoint(projection.name, db) < event.position:
                return False
            projection.apply(db, self._upcast(event))
        self._attempts.pop((projection.name, event.id), None)
        return True

    def _parked_event(self, row):
        if row.get("envelope"):
            return RecordedEvent.from_dict(row["envelope"])
        for event in self.store.read_stream(row["stream"]):
            if event.id == row["event_id"]:
                return event
        raise LookupError(f"event {row['event_id']} is not in stream {row['stream']}")

    # -- rebuild ------------------------------------------------------------------------------------
    def rebuild(self, name: str | None = None, progress=None) -> int:
        """Replay read models (one, or all) beside the live ones and swap them in once caught up.

        They are built in a fresh SQLite file next to the views (``<views>.rebuild-<id>``) by the same
        projections, from position 0 to the store's head. Then, holding the views' write lock (which every
        process's runner takes for each batch), the last events are applied and the rebuilt tables replace
        the live ones in one transaction with their checkpoints: readers see the old read model or the new
        one, never a mix and never an empty one. If anything fails before that commit, the live read model
        is untouched. Parked events are recorded, and those that now apply are resolved, only after the swap.
        ``progress(position reached, head, events applied)`` is called after each batch (the position is the
        average over the projections rebuilt). Returns how many events were applied."""
        selected = [p for p in self.projections if name is None or p.name == name]
        if not selected:
            raise KeyError(f"no projection {name!r}; there are {', '.join(p.name for p in self.projections)}")
        path = self._rebuild_path()
        rebuilt_views = ViewStore(path, synchronous="OFF")  # a scratch file until it is copied in
        try:
            rebuilt = ProjectionRunner(self.store, rebuilt_views, selected, self.categories, self.registry,
                                       self.batch, state=self.state, max_attempts=self.max_attempts)
            rebuilt.deferred_parks = []
            if progress is not None:
                head = max(self.store.head_position(self.categories), 1)
                rebuilt.on_batch = lambda projection, position: progress(
                    sum(rebuilt_views.get_checkpoint(p.name) for p in selected) / len(selected), head,
                    rebuilt.applied_total)
            rebuilt.build()
            with self._run_lock:
                self._swap(rebuilt, rebuilt_views, path, selected)
            self._settle_parked(rebuilt, selected)
            return rebuilt.applied_total
        finally:
            rebuilt_views.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.remove(path + suffix)
                except FileNotFoundError:
                    pass

    def _rebuild_path(self) -> str:
        suffix = f".rebuild-{uuid.uuid4().hex[:12]}"
        if self.views.path == ":memory:":
            return os.path.join(tempfile.gettempdir(), f"chronicle-views{suffix}")
        return self.views.path + suffix

    def build(self) -> int:
        """Catch up to the head, riding out held events (each is parked after ``max_attempts`` rounds) and
        transient errors; raises when a round after round makes no progress."""
        stuck = 0
        while True:
            before = [self.views.get_checkpoint(p.name) for p in self.projections]
            try:
                return self.run_once()
            except Exception as exc:
                moved = [self.views.get_checkpoint(p.name) for p in self.projections] != before
                stuck = 0 if moved else stuck + 1
                if stuck > self.max_attempts + 5:
                    raise
                if is_transient(exc):
                    time.sleep(0.1)

    def _swap(self, rebuilt, rebuilt_views, path, selected):
        """Under the live views' write lock: the last events, then the rebuilt tables in one transaction."""
        conn = self.views.conn
        attached = False
        with self.views.lock:
            try:
                with self.views.transaction() as db:
                    try:
                        rebuilt.run_once()  # what was appended meanwhile: a few events
                    except Exception as exc:  # swap at what it reached; the live runner goes on from there
                        log.warning("rebuild: the last events did not apply (%s); swapping at the rebuilt"
                                    " checkpoints", exc)
                    # Attached only now: attached before BEGIN IMMEDIATE, its file would be locked for writing.
                    db.execute("ATTACH DATABASE ? AS rebuilt", (path,))
                    attached = True
                    for projection in selected:
                        _replace_tables(db, projection)
                        self.views.set_checkpoint(projection.name, rebuilt_views.get_checkpoint(projection.name),
                                                  db, projection.version)
            finally:
                if attached:
                    conn.execute("DETACH DATABASE rebuilt")

    def _settle_parked(self, rebuilt, selected):
        if self.state is None:
            return
        names = {p.name for p in selected}
        open_entries = {(r["name"], r["event_id"]): r["id"] for r in self.state.parked("projection")
                        if r["name"] in names}
        for entry in rebuilt.deferred_parks:
            key = (entry["name"], entry["event_id"])
            if entry.get("applied"):
                if key in open_entries:
                    self.state.resolve(open_entries[key])  # the rebuilt read model has it now
            else:
                entry = dict(entry)
                self.state.park("projection", entry.pop("name"), **entry)


def _replace_tables(db, projection):
    """Drop the projection's live tables and recreate them, with their indexes, from the attached rebuilt
    file, rows and rowids included."""
    projection.drop(db)
    tables = list(projection.tables)
    if not tables:
        return
    marks = ",".join("?" * len(tables))
    objects = db.execute(
        f"SELECT type, name, sql FROM rebuilt.sqlite_master WHERE tbl_name IN ({marks})"
        " AND sql IS NOT NULL ORDER BY type != 'table', rowid", tables).fetchall()
    for kind, name, sql in objects:
        if kind != "table":
            continue
        db.execute(sql)
        info = db.execute(f'PRAGMA rebuilt.table_info("{name}")').fetchall()
        columns = [r[1] for r in info]
        keys = [r for r in info if r[5]]
        rowid_alias = len(keys) == 1 and keys[0][2].upper() == "INTEGER"  # the rowid is a column already
        keep_rowid = "WITHOUT ROWID" not in sql.upper() and not rowid_alias
        names = ", ".join(f'"{c}"' for c in columns)
        if keep_rowid:
            db.execute(f'INSERT INTO main."{name}" (rowid, {names}) SELECT rowid, {names} FROM rebuilt."{name}"')
        else:
            db.execute(f'INSERT INTO main."{name}" ({names}) SELECT {names} FROM rebuilt."{name}"')
    for kind, _name, sql in objects:
        if kind != "table":
            db.execute(sql)
