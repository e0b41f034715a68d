"""Command handling: load the aggregate, decide, append with the expected version.

On a concurrent write the command is reloaded and decided again, a bounded number of times,
then ``Conflict``. With a ``command_id`` the event ids are derived from it (uuid5), so a retry of
the same command returns the first result and appends nothing.

An error never follows a commit: everything that can fail on the new events (their schema, their JSON
form, applying them as they will be read back) is checked before the append, and nothing after it can
raise on them.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from .aggregate import Aggregate, DomainEvent
from .errors import Conflict
from .events import EventRegistry, EventSchemaError
from .eventstore.base import NO_STREAM, EventStore, NewEvent, RecordedEvent, WrongExpectedVersion, dumps

log = logging.getLogger(__name__)

COMMAND_NAMESPACE = uuid.UUID("6f1d1c4e-2f53-4b8e-9a55-9b3f0c6c2a11")
MAX_RETRIES = 5


def derive_id(command_id: str | None, purpose: str) -> str:
    """A new entity id: deterministic for a command_id (so retries address the same thing)."""
    if command_id:
        return str(uuid.uuid5(COMMAND_NAMESPACE, f"{command_id}/{purpose}"))
    return str(uuid.uuid4())


def event_id(command_id: str, stream: str, index: int) -> str:
    return str(uuid.uuid5(COMMAND_NAMESPACE, f"{command_id}/{stream}/{index}"))


@dataclass
class Outcome:
    aggregate: Aggregate
    events: list[RecordedEvent] | list[NewEvent]
    position: int
    replayed: bool = False  # True when a retried command_id returned its first result


def load(store: EventStore, registry: EventRegistry | None, aggregate_cls, aggregate_id, upto=None):
    """Rebuild an aggregate from its stream; ``upto`` (a predicate on events) stops early."""
    aggregate = aggregate_cls(aggregate_id)
    events = store.read_stream(aggregate.stream)
    if registry is not None:
        events = [registry.upcast(e) for e in events]
    for event in events:
        if upto is not None and not upto(event):
            break
        aggregate.apply(event)
        aggregate.version = event.version
    return aggregate, events


def replayed(store: EventStore, registry: EventRegistry | None, aggregate_cls, aggregate_id, command_id,
             command: str | None = None, actor: str | None = None) -> Outcome | None:
    """The first outcome of ``command_id`` on this aggregate, if it was already applied; else None.

    Services call it (through ``ChronicleHandle.replayed``) before checks that could now fail although the
    command once succeeded (a resource since deactivated, an entry since deleted): a retry must return the
    first result, not a new refusal."""
    if not command_id:
        return None
    aggregate, events = load(store, registry, aggregate_cls, aggregate_id)
    return _first_outcome(aggregate_cls, aggregate_id, events, command_id, command, actor)


def _first_outcome(aggregate_cls, aggregate_id, events, command_id, command, actor=None) -> Outcome | None:
    """From a stream's (upcast) events: the state and events a command_id left, if it was applied.

    The first result answers only the actor who sent the command: a command id is no key to what another caller
    did (their week, their project), so another actor's reuse is ``Conflict`` too."""
    if not command_id:
        return None
    done = [e for e in events if e.metadata.get("command_id") == str(command_id)]
    if not done:
        return None
    last = done[-1]
    before = aggregate_cls.rebuild(aggregate_id, [e for e in events if e.version <= last.version])
    first_command, first_actor = done[0].metadata.get("command"), done[0].metadata.get("actor")
    if actor and first_actor and first_actor != actor:
        raise Conflict(f"command_id {command_id!r} was already used by another caller", code="command_id.reused")
    if command and first_command and first_command != command:
        raise Conflict(
            f"command_id {command_id!r} was already used for {first_command} on {before.stream}",
            code="command_id.reused",
        )
    return Outcome(before, done, last.position, replayed=True)


def _readable(aggregate_cls, aggregate_id, events, new_events: list[NewEvent]):
    """Refuse, before the append, events that would break their stream: each is stored as JSON and applied
    again on every later load. Data that comes back from JSON equal was applied already (``record``); other
    data (a tuple, an int key) is applied as it will be read back, on a rebuild of the aggregate."""
    try:
        stored = [DomainEvent(e.type, json.loads(dumps(e.data))) for e in new_events]
        if any(back.data != e.data for back, e in zip(stored, new_events, strict=True)):
            aggregate_cls.rebuild(aggregate_id, [*events, *stored])
    except Exception as exc:
        raise EventSchemaError(
            f"{aggregate_cls.__name__} {aggregate_id}: the new events could not be read back ({exc!r})") from exc


def execute(
    store: EventStore,
    registry: EventRegistry,
    aggregate_cls,
    aggregate_id: str,
    decide,
    *,
    command_id: str | None = None,
    metadata: dict | None = None,
    expected_version: int | None = None,
    max_retries: int = MAX_RETRIES,
    on_appended=None,
    command: str | None = None,
    reads=(),
    precheck=None,
) -> Outcome:
    """Run ``decide(aggregate)`` and append what it recorded.

    ``command`` names the command (the RPC method) in the metadata; a ``command_id`` reused for a different
    command on the same aggregate, or by another actor (``metadata["actor"]``), raises ``Conflict``
    (``command_id.reused``) instead of replaying.

    ``decide`` raises domain errors to refuse; it may record nothing (no-op). ``expected_version``
    is the caller's optimistic lock: a different current version raises ``Conflict``.

    ``reads`` ((AggregateCls, id) pairs) are other aggregates the decision depends on (the period lock):
    each attempt loads them fresh and calls ``decide(aggregate, *read_aggregates)``, and the append commits
    only while their streams are still at the versions decided on; if one moved, the command is reloaded
    and decided again on its new state.

    ``precheck()`` runs once, before the first decision, and only for a command not applied yet: the checks of
    facts outside the aggregate that could fail now although the command once succeeded (a resource deactivated
    since, a unique key to reserve). A retried ``command_id`` returns its first outcome without running it.
    """
    metadata = dict(metadata or {})
    metadata["command_id"] = str(command_id) if command_id else None  # always present, null without one
    metadata["command"] = command
    for attempt in range(max_retries + 1):
        aggregate, events = load(store, registry, aggregate_cls, aggregate_id)  # one read per attempt
        first = _first_outcome(aggregate_cls, aggregate_id, events, command_id, command, metadata.get("actor"))
        if first is not None:
            return first
        if precheck is not None:
            precheck()
            precheck = None  # once: a concurrent write's retry decides again, it does not check again
        if expected_version is not None and aggregate.version != int(expected_version):
            raise Conflict(
                f"{aggregate.stream} is at version {aggregate.version}, not {expected_version}",
                code="version_conflict",
            )
        read = [load(store, registry, cls, read_id)[0] for cls, read_id in reads]
        decide(aggregate, *read)
        if not aggregate.pending:
            position = events[-1].position if events else 0
            return Outcome(aggregate, [], position)
        new_events = []
        for index, pending in enumerate(aggregate.pending):
            schema_version = registry.validate(pending.type, pending.data)
            new_events.append(
                NewEvent(
                    type=pending.type,
                    data=pending.data,
                    id=event_id(command_id, aggregate.stream, index) if command_id else str(uuid.uuid4()),
                    schema_version=schema_version,
                    metadata=metadata,
                )
            )
        _readable(aggregate_cls, aggregate_id, events, new_events)
        expected = aggregate.version if aggregate.version >= 0 else NO_STREAM
        unchanged = {r.stream: (r.version if r.version >= 0 else NO_STREAM) for r in read}
        try:
            if unchanged:
                position = store.append(aggregate.stream, new_events, expected, unchanged=unchanged)
            else:
                position = store.append(aggregate.stream, new_events, expected)
        except WrongExpectedVersion as exc:
            log.info("concurrent write on %s (attempt %d), reloading", exc.stream, attempt + 1)
            continue
        # Committed: from here on nothing may raise, or the caller would see an error for a done command.
        aggregate.version += len(new_events)
        aggregate.pending = []
        if on_appended is not None:
            try:
                on_appended(position)
            except Exception:  # a wake-up only: the relay and the views poll anyway
                log.exception("after appending to %s: waking the relay and views failed", aggregate.stream)
        return Outcome(aggregate, new_events, position)
    raise Conflict(
        f"{aggregate_cls.__name__} {aggregate_id} kept changing under this command; try again",
        code="concurrency_conflict",
    )
