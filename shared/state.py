"""Durable state: what a service must keep when its read models are thrown away.

The relay's, the consumers' and the reactors' checkpoints, and the events set aside (parked) because a
consumer, a projection or a reactor could not take them. It lives in its own SQLite file,
``<service>.state.db``, apart from the disposable read models in ``<service>.views.db``: deleting or
rebuilding the views never republishes an event, re-records a fact or resends an e-mail or a webhook.
"""
from __future__ import annotations

import json
import logging

from .projections import ViewStore

log = logging.getLogger(__name__)

PARKED = """
CREATE TABLE IF NOT EXISTS parked (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,     -- consumer | projection | reactor
    name            TEXT NOT NULL,     -- the source service, projection or reactor
    event_id        TEXT NOT NULL,
    stream          TEXT,
    position        INTEGER,
    event_type      TEXT,
    reason          TEXT NOT NULL,     -- a short code: signature_invalid, schema_invalid, handler_failed, ...
    error           TEXT,
    envelope        TEXT,              -- the event as JSON, when there is one
    attempts        INTEGER NOT NULL DEFAULT 1,
    parked_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    retry_requested INTEGER NOT NULL DEFAULT 0,
    resolved_at     TEXT,
    UNIQUE (kind, name, event_id)
);
"""

KINDS = ("consumer", "projection", "reactor")

# Checkpoints that belonged to the views file before the durable state had a file of its own.
DURABLE_CHECKPOINT_PREFIXES = ("relay:", "consumer:", "reactor:")


class DurableState(ViewStore):
    """The same SQLite handling as the read models, plus the parked events.

    ``synchronous=NORMAL`` (WAL) survives a killed process; a power cut may lose the last commits, in order. That
    is safe here: everything in this file is at-least-once, so a checkpoint that goes back republishes, re-pulls
    or re-reacts (all idempotent), and re-parks what it had parked. FULL would fsync on every publication."""

    def __init__(self, path: str, synchronous: str = "NORMAL"):
        super().__init__(path, synchronous)
        self._retry(lambda: self.conn.executescript(PARKED))

    # -- parked events --------------------------------------------------------------------------
    def park(self, kind, name, *, event_id, stream=None, position=None, event_type=None, reason, error=None,
             envelope=None, attempts=1):
        """Set an event aside after ``attempts`` tries. Parking it again (same kind, name and event) adds
        the attempts and keeps the latest reason and error; a resolved entry parked again is open again."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        body = json.dumps(envelope, sort_keys=True, default=str) if envelope is not None else None
        with self.transaction() as db:
            db.execute(
                "INSERT INTO parked (kind, name, event_id, stream, position, event_type, reason, error, envelope,"
                " attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(kind, name, event_id) DO UPDATE SET attempts = attempts + excluded.attempts,"
                " reason = excluded.reason, error = excluded.error,"
                " envelope = COALESCE(excluded.envelope, envelope), retry_requested = 0, resolved_at = NULL",
                (kind, name, event_id, stream, position, event_type, reason, error, body, int(attempts)),
            )

    def parked(self, kind=None, name=None, include_resolved=False) -> list[dict]:
        sql, args = "SELECT * FROM parked WHERE 1 = 1", []
        if kind is not None:
            sql, args = sql + " AND kind = ?", args + [kind]
        if name is not None:
            sql, args = sql + " AND name = ?", args + [name]
        if not include_resolved:
            sql += " AND resolved_at IS NULL"
        rows = self.read(lambda db: db.execute(sql + " ORDER BY id", args).fetchall())
        return [_row(r) for r in rows]

    def is_parked(self, kind, name, event_id) -> bool:
        return self.read(lambda db: db.execute(
            "SELECT 1 FROM parked WHERE kind = ? AND name = ? AND event_id = ? AND resolved_at IS NULL",
            (kind, name, event_id)).fetchone()) is not None

    def request_retry(self, parked_id=None, kind=None) -> int:
        """Ask the running service to try parked events again (all open ones, one kind, or one entry).
        Returns how many entries were marked."""
        sql, args = "UPDATE parked SET retry_requested = 1 WHERE resolved_at IS NULL", []
        if parked_id is not None:
            sql, args = sql + " AND id = ?", args + [int(parked_id)]
        if kind is not None:
            sql, args = sql + " AND kind = ?", args + [kind]
        with self.transaction() as db:
            return db.execute(sql, args).rowcount

    def retry_requested(self, kind) -> list[dict]:
        rows = self.read(lambda db: db.execute(
            "SELECT * FROM parked WHERE kind = ? AND retry_requested = 1 AND resolved_at IS NULL ORDER BY id",
            (kind,)).fetchall())
        return [_row(r) for r in rows]

    def resolve(self, parked_id):
        with self.transaction() as db:
            db.execute("UPDATE parked SET retry_requested = 0, resolved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
                       " WHERE id = ?", (int(parked_id),))

    def retry_failed(self, parked_id, error):
        with self.transaction() as db:
            db.execute("UPDATE parked SET retry_requested = 0, attempts = attempts + 1, error = ? WHERE id = ?",
                       (error, int(parked_id)))

    # -- migration --------------------------------------------------------------------------------
    def adopt(self, views: ViewStore):
        """Take over the durable checkpoints (and reactor failures) that older versions kept in the views
        file, once: without this an upgrade would publish and act on every event again."""

        def old(db):
            checkpoints = [tuple(r) for r in db.execute("SELECT name, position FROM checkpoints")
                           if r[0].startswith(DURABLE_CHECKPOINT_PREFIXES)]
            has_failures = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reactor_failures'").fetchone()
            failures = [dict(r) for r in db.execute("SELECT * FROM reactor_failures")] if has_failures else []
            return checkpoints, failures

        checkpoints, failures = views.read(old)
        for name, position in checkpoints:
            if self.get_checkpoint(name) == 0 and position:
                self.save_checkpoint(name, position)
        for f in failures:
            if not self.is_parked("reactor", f["reactor"], f["event_id"]):
                self.park("reactor", f["reactor"], event_id=f["event_id"], position=f["position"],
                          event_type=f["event_type"], reason="handler_failed", error=f["error"],
                          attempts=f["attempts"] or 1)
        if checkpoints or failures:
            with views.transaction() as db:
                db.execute("DELETE FROM checkpoints WHERE " + " OR ".join(
                    "name LIKE ?" for _ in DURABLE_CHECKPOINT_PREFIXES), [p + "%" for p in DURABLE_CHECKPOINT_PREFIXES])
                db.execute("DROP TABLE IF EXISTS reactor_failures")
            log.info("moved %d checkpoints and %d reactor failures from the views to the durable state",
                     len(checkpoints), len(failures))


def _row(row) -> dict:
    out = dict(row)
    out["envelope"] = json.loads(out["envelope"]) if out.get("envelope") else None
    out["retry_requested"] = bool(out["retry_requested"])
    return out
