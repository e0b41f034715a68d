"""Event store backends behind one contract (see base.py)."""
from urllib.parse import parse_qs, urlparse

from .base import (
    ANY,
    NO_STREAM,
    EventStore,
    EventStoreError,
    NewEvent,
    RecordedEvent,
    WrongExpectedVersion,
    category_of,
)

__all__ = [
    "ANY",
    "NO_STREAM",
    "EventStore",
    "EventStoreError",
    "NewEvent",
    "RecordedEvent",
    "WrongExpectedVersion",
    "category_of",
    "open_store",
]


def open_store(uri: str) -> EventStore:
    """``sqlite:///path/file.db[?synchronous=NORMAL]`` or ``kurrentdb://host:2113?Tls=false``."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        path = uri[len("sqlite:///"):].split("?", 1)[0] if uri.startswith("sqlite:///") else parsed.path
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        from .sqlite import SQLiteEventStore

        return SQLiteEventStore(path or ":memory:", synchronous=options.get("synchronous", "FULL"))
    if parsed.scheme in ("kurrentdb", "esdb", "kurrentdb+discover", "esdb+discover"):
        from .kurrent import KurrentEventStore

        return KurrentEventStore(uri)
    raise ValueError(f"unsupported EVENTSTORE_URI {uri!r}: use sqlite:///path or kurrentdb://host:2113")
