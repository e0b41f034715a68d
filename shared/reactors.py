"""Reactors: follow the store and act on events (record new events, send e-mail, call webhooks).

A reactor sees each event after the read models have, from its own checkpoint (kept in the service's
durable state, apart from the read models, so dropping or rebuilding the views never acts twice).
Delivery to a reactor is at-least-once: a crash between the action and the checkpoint repeats the
action, so every action must be idempotent, e.g. a command with ``command_id=f"{reactor.name}:{event.id}"``.
"""
from __future__ import annotations

import logging

from .eventstore.base import RecordedEvent

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
    ``max_attempts`` times (one try per round); then the event is parked in the durable state (kind "reactor",
    visible to operators, see ``failures()``) and the reactor moves on, so one poison event cannot stop every
    later effect. One reactor's failure never holds up the others."""

    def __init__(self, store, state, runner, reactors, categories=None, registry=None, batch=200, max_attempts=5):
        self.store, self.state, self.runner = store, state, runner
        self.reactors = list(reactors)
        self.categories = list(categories) if categories else None
        self.registry = registry
        self.batch = batch
        self.max_attempts = max_attempts
        self._attempts: dict[tuple[str, str], int] = {}

    def checkpoint_name(self, reactor):
        return f"reactor:{reactor.name}"

    def run_once(self, handle_factory) -> int:
        done, failed = 0, None
        ceiling = self.runner.position() if self.reactors else 0  # act only on what the read models already show
        for reactor in self.reactors:
            try:
                done += self._catch_up(reactor, handle_factory, ceiling)
            except Exception as exc:  # retried next round; the other reactors go on
                failed = failed or exc
        if failed is not None:
            raise failed
        return done

    def failures(self) -> list[dict]:
        """The events reactors gave up on (parked, not yet resolved)."""
        return self.state.parked("reactor")

    def _catch_up(self, reactor, handle_factory, ceiling) -> int:
        """Up to ``ceiling``; what the read models show later is the next round's (the views loop runs one after each
        projection round)."""
        done = 0
        name = self.checkpoint_name(reactor)
        start = self.state.get_checkpoint(name)
        while True:
            if start >= ceiling:
                return done
            events = [e for e in self.store.read_all(start, self.categories, limit=self.batch) if e.position <= ceiling]
            if not events:
                self.state.save_checkpoint(name, ceiling)
                return done
            saved = start
            for event in events:
                if reactor.handles(event.type):
                    if self.registry is not None:
                        event = self.registry.upcast(event)
                    if self._react(reactor, handle_factory, event):
                        done += 1
                    saved = event.position
                    self.state.save_checkpoint(name, saved)
            if saved != events[-1].position:  # past the events it does not handle
                self.state.save_checkpoint(name, events[-1].position)
            start = events[-1].position

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
            log.error("reactor %s gave up on %s %s after %d attempts; parked",
                      reactor.name, event.type, event.id, attempts)
            self.state.park("reactor", reactor.name, event_id=event.id, stream=event.stream, position=event.position,
                            event_type=event.type, reason="handler_failed", error=f"{type(exc).__name__}: {exc}",
                            envelope=event.to_dict(), attempts=attempts)
            self._attempts.pop(key, None)
            return False
        self._attempts.pop(key, None)
        return True

    def retry_parked(self, row: dict, handle_factory) -> bool:
        """React again to a parked event (a row of ``DurableState.parked``); raises what the reactor raises."""
        reactor = next((r for r in self.reactors if r.name == row["name"]), None)
        if reactor is None:
            raise KeyError(f"no reactor {row['name']!r}")
        if not row.get("envelope"):
            raise LookupError(f"parked event {row['event_id']} has no envelope to react to")
        event = RecordedEvent.from_dict(row["envelope"])
        if self.registry is not None:
            event = self.registry.upcast(event)
        reactor.react(handle_factory(reactor, event), event)
        return True
