"""A small aggregate base. Commands record events; ``apply`` only mutates state.

Subclasses handle each event type in a method named ``on_<EventType>(data)``. Nothing here
does I/O, so domain tests are given/when/then on plain events.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DomainEvent:
    type: str
    data: dict = field(default_factory=dict)


class Aggregate:
    category: str = ""

    def __init__(self, id: str):
        self.id = str(id)
        self.version = -1  # stream version of the last applied event; -1: nothing yet
        self.pending: list[DomainEvent] = []

    @property
    def stream(self) -> str:
        return f"{self.category}-{self.id}"

    @property
    def exists(self) -> bool:
        return self.version >= 0 or bool(self.pending)

    def apply(self, event) -> None:
        handler = getattr(self, f"on_{event.type}", None)
        if handler is not None:
            handler(event.data)

    def record(self, event_type: str, **data) -> DomainEvent:
        event = DomainEvent(event_type, data)
        self.apply(event)
        self.pending.append(event)
        return event

    @classmethod
    def rebuild(cls, id: str, events) -> "Aggregate":
        aggregate = cls(id)
        for event in events:
            aggregate.apply(event)
            aggregate.version = getattr(event, "version", aggregate.version + 1)
        return aggregate
