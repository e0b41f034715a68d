"""Reactors: follow the store and act on events (record new events, send e-mail, call webhooks).

A reactor sees each event after the read models have, from its own checkpoint (kept in the views
file but never dropped by a rebuild). Delivery to a reactor is at-least-once: a crash between the
action and the checkpoint repeats the action, so every action must be idempotent, e.g. a command
with ``command_id=f"{reactor.name}:{event.id}"``.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Reactor:
    name = "reactor"

    def handles(self, event_type: str) -> bool:
        return hasattr(self, f"on_{event_type}")

    def react(self, chronicle, event):
        handler = getattr(self, f"on_{event.type}", None)
        if handler is not None:
            handler(chronicle, event)


class ReactorRunner:
    """Runs reactors from their checkpoints. A reactor that keeps failing on one event is retried
    ``max_attempts`` times (one try per round); then the event is parked in ``reactor_failures`` (visible to
    operators, see ``failures()``) and the reactor moves on, so one poison event cannot stop every later effect.
    One reactor's failure never holds up the others."""

    def __init__(self, store, views, runner, reactors, categories=None, registry=None, batch=200, max_attempts=5):
        self.store, self.views, self.runner = store, views, runner
        self.reactors = list(reactors)
        self.categories = list(categories) if categories else None
        self.registry = registry
        self.batch = batch
        self.max_attempts = max_attempts
        self._attempts: dict[tuple[str, str], int] = {}
        with self.views.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS reactor_failures (reactor TEXT, event_id TEXT, position INTEGER,"
                " event_type TEXT, error TEXT, attempts INTEGER, failed_at TEXT DEFAULT CURRENT_TIMESTAMP,"
                " PRIMARY KEY (reactor, event_id))"
            )

    def checkpoint_name(self, reactor):
        return f"reactor:{reactor.name}"

    def run_once(self, handle_factory) -> int:
        done, failed = 0, None
        for reactor in self.reactors:
            try:
                done += self._catch_up(reactor, handle_factory)
            except Exception as exc:  # retried next round; the other reactors go on
                failed = failed or exc
        if failed is not None:
            raise failed
        return done

    def failures(self) -> list[dict]:
        return self.views.read(lambda db: [dict(r) for r in db.execute(
            "SELECT * FROM reactor_failures ORDER BY position")])

    def _catch_up(self, reactor, handle_factory) -> int:
        done = 0
        name = self.checkpoint_name(reactor)
        while True:
            ceiling = self.runner.position()  # act only on what the read models already show
            start = self.views.get_checkpoint(name)
            if start >= ceiling:
                return done
            events = [e for e in self.store.read_all(start, self.categories, limit=self.batch) if e.position <= ceiling]
            if not events:
                self.views.save_checkpoint(name, ceiling)
                return done
            for event in events:
                if reactor.handles(event.type):
                    if self.registry is not None:
                        event = self.registry.upcast(event)
                    if self._react(reactor, handle_factory, event):
                        done += 1
                    self.views.save_checkpoint(name, event.position)
            self.views.save_checkpoint(name, events[-1].position)

    def _react(self, reactor, handle_factory, event) -> bool:
        key = (reactor.name, event.id)
        try:
            reactor.react(handle_factory(reactor, event), event)
        except Exception as exc:
            attempts = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempts
            if attempts < self.max_attempts:
                log.warning("reactor %s failed on %s %s (attempt %d): %s", reactor.name, event.type, event.id,
                            attempts, exc)
                raise
            log.error("reactor %s gave up on %s %s after %d attempts; parked in reactor_failures",
                      reactor.name, event.type, event.id, attempts)
            with self.views.transaction() as db:
                db.execute(
                    "INSERT OR REPLACE INTO reactor_failures (reactor, event_id, position, event_type, error, attempts)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (reactor.name, event.id, event.position, event.type, f"{type(exc).__name__}: {exc}", attempts),
                )
            self._attempts.pop(key, None)
            return False
        self._attempts.pop(key, None)
        return True
