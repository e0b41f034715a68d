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
    def __init__(self, store, views, runner, reactors, categories=None, registry=None, batch=200):
        self.store, self.views, self.runner = store, views, runner
        self.reactors = list(reactors)
        self.categories = list(categories) if categories else None
        self.registry = registry
        self.batch = batch

    def checkpoint_name(self, reactor):
        return f"reactor:{reactor.name}"

    def run_once(self, handle_factory) -> int:
        done = 0
        for reactor in self.reactors:
            done += self._catch_up(reactor, handle_factory)
        return done

    def _catch_up(self, reactor, handle_factory) -> int:
        done = 0
        while True:
            ceiling = self.runner.position()  # act only on what the read models already show
            start = self.views.get_checkpoint(self.checkpoint_name(reactor))
            if start >= ceiling:
                return done
            events = [e for e in self.store.read_all(start, self.categories, limit=self.batch) if e.position <= ceiling]
            if not events:
                self.views.save_checkpoint(self.checkpoint_name(reactor), ceiling)
                return done
            for event in events:
                if reactor.handles(event.type):
                    if self.registry is not None:
                        event = self.registry.upcast(event)
                    reactor.react(handle_factory(), event)
                    done += 1
                self.views.save_checkpoint(self.checkpoint_name(reactor), event.position)
