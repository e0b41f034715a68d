"""Unique keys (a project code, an e-mail address): reserved for one owner before the thing that carries the key
is made, in an internal stream ``<category>-<key>`` (projected, never published).

A reservation is a small aggregate, so of two owners reserving at once only one wins (the expected version), and
a retried command finds its own reservation: the same owner again records nothing, the same ``command_id``
returns the first result. An owner that never completed (a crash between the reservation and what carries the
key) keeps the key for a grace period, then another owner takes it over. Whether a holder completed is the
service's question (``holds``): the kit asks it before deciding, so the decision itself stays pure.

A service subclasses ``Reservation`` with its category (and reads streams written before these events with an
``on_<OldEvent>`` handler) and registers the events with ``register_events(its registry)``.
"""
from __future__ import annotations

from marshmallow import Schema, fields

from .aggregate import Aggregate

GRACE_SECONDS = 60  # a holder that does not hold the key yet is taken to be completing for this long


class Reservation(Aggregate):
    """One key, held by at most one owner. ``data``: what the owner stored with it (e.g. how to finish)."""

    category = ""

    def __init__(self, id):
        super().__init__(id)
        self.owner: str | None = None
        self.reserved_at: float | None = None  # None: stored without a time, never taken for in progress
        self.data: dict = {}

    def reserve(self, owner: str, *, now: float, data: dict, holds: bool | None, taken: Exception,
                grace: float = GRACE_SECONDS) -> None:
        """``holds``: whether the current holder holds the key for good, as the service found before deciding;
        None if it was not asked about this holder (one that reserved meanwhile: in progress)."""
        if self.owner == owner:
            return  # a retry of the owner's own reservation
        if self.owner is not None:
            in_progress = holds is None or (self.reserved_at is not None and now - self.reserved_at < grace)
            if holds or in_progress:
                raise taken
            self.record("KeyReleased", key=self.id, owner=self.owner, reason="stale")
        self.record("KeyReserved", key=self.id, owner=owner, reserved_at=now, data=data)

    def release(self, owner: str) -> None:
        if self.owner == owner:
            self.record("KeyReleased", key=self.id, owner=owner, reason="released")

    def on_KeyReserved(self, d):
        self.owner, self.reserved_at, self.data = d["owner"], d["reserved_at"], d["data"]

    def on_KeyReleased(self, d):
        self.owner, self.reserved_at, self.data = None, None, {}


def reserve(chronicle, reservation_cls, key: str, owner: str, *, command_id, now: float, holds, taken: Exception,
            data: dict | None = None, grace: float = GRACE_SECONDS) -> Reservation:
    """Reserve ``key`` for ``owner``, or raise ``taken``; returns the reservation as it stands (``data`` as the
    owner first stored it). ``holds(reservation)``: does its (other) owner hold the key for good? It may finish
    the owner's work first; False lets the key go once the grace period is over."""
    held = chronicle.load(reservation_cls, key)
    verdict = {held.owner: holds(held)} if held.owner not in (None, owner) else {}
    outcome = chronicle.execute(
        reservation_cls, key,
        lambda r: r.reserve(owner, now=now, data=data or {}, holds=verdict.get(r.owner), taken=taken, grace=grace),
        command_id=command_id,
    )
    return outcome.aggregate


def release(chronicle, reservation_cls, key: str, owner: str, *, command_id=None) -> Reservation:
    """Give ``key`` up if ``owner`` holds it (nothing otherwise)."""
    return chronicle.execute(reservation_cls, key, lambda r: r.release(owner), command_id=command_id).aggregate


class KeyReservedV1(Schema):
    key = fields.String(required=True)
    owner = fields.String(required=True)
    reserved_at = fields.Float(required=True)
    data = fields.Dict(required=True)


class KeyReleasedV1(Schema):
    key = fields.String(required=True)
    owner = fields.String(required=True)
    reason = fields.String(required=True)  # "released" by its owner, or "stale": taken over


def register_events(registry) -> None:
    """The reservation events, internal to the service that keeps them."""
    registry.register("KeyReserved", version=1, internal=True)(KeyReservedV1)
    registry.register("KeyReleased", version=1, internal=True)(KeyReleasedV1)
