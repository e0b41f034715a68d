"""Event types: one marshmallow schema per event type and schema_version, with upcasters.

A service declares its events once::

    events = EventRegistry()

    @events.register("ProjectCreated", version=2)
    class ProjectCreatedV2(Schema): ...

    @events.upcaster("ProjectCreated", from_version=1)
    def project_created_v1_to_v2(data): return {**data, "currency": "NOK"}

New events are validated against the newest schema before they are appended; events of an
older version are upcast step by step when they are read.
"""
from __future__ import annotations

from dataclasses import replace

from marshmallow import Schema

from .eventstore.base import RecordedEvent


class EventSchemaError(Exception):
    """An event does not match its schema: a programming error, never bad user input."""


class EventRegistry:
    def __init__(self):
        self._schemas: dict[tuple[str, int], Schema] = {}
        self._current: dict[str, int] = {}
        self._upcasters: dict[tuple[str, int], callable] = {}
        self._internal: set[str] = set()

    def register(self, event_type: str, version: int = 1, internal: bool = False):
        """``internal``: kept in one of the service's internal streams (unique-key reservations, secrets), never
        published or served by the feed, and so not part of the service's published contract."""

        def decorator(schema_cls):
            self._schemas[(event_type, version)] = schema_cls()
            self._current[event_type] = max(version, self._current.get(event_type, 0))
            if internal:
                self._internal.add(event_type)
            return schema_cls

        return decorator

    def upcaster(self, event_type: str, from_version: int):
        def decorator(fn):
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorator

    def types(self) -> list[str]:
        return sorted(self._current)

    def versions(self) -> list[tuple[str, int]]:
        """Every (type, schema_version) registered, old ones included (stored events keep them)."""
        return sorted(self._schemas)

    def is_internal(self, event_type: str) -> bool:
        return event_type in self._internal

    def current_version(self, event_type: str) -> int:
        try:
            return self._current[event_type]
        except KeyError:
            raise EventSchemaError(f"unknown event type {event_type!r}") from None

    def schema(self, event_type: str, version: int | None = None) -> Schema:
        version = version or self.current_version(event_type)
        return self._schemas[(event_type, version)]

    def validate(self, event_type: str, data: dict) -> int:
        """Check ``data`` against the newest schema; returns that schema_version."""
        version = self.current_version(event_type)
        errors = self._schemas[(event_type, version)].validate(data)
        if errors:
            raise EventSchemaError(f"{event_type} v{version} does not match its schema: {errors}")
        return version

    def upcast(self, event: RecordedEvent) -> RecordedEvent:
        if event.type not in self._current:
            return event
        data, version = event.data, event.schema_version
        target = self._current[event.type]
        while version < target:
            step = self._upcasters.get((event.type, version))
            if step is None:
                raise EventSchemaError(f"no upcaster for {event.type} v{version}")
            data, version = step(dict(data)), version + 1
        if version == event.schema_version:
            return event
        return replace(event, data=data, schema_version=version)
