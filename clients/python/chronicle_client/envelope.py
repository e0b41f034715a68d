"""The event envelope, and its signature check (the same scheme as the services' relays and feeds).

Every event Chronicle publishes or serves carries ``signature``: ``"hmac-sha256=" + hex`` HMAC-SHA256 over the
canonical JSON of the envelope without that field (sorted keys, no spaces, ASCII), keyed with the deployment's
signing key. ``CHRONICLE_SIGNING_KEY`` may hold several keys separated by commas during a rotation: any of them
is accepted.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field

SIGNATURE_FIELD = "signature"
SCHEME = "hmac-sha256="


@dataclass(frozen=True)
class Envelope:
    """One Chronicle event, as published on ``<service>.events`` and served by ``events_since``."""

    id: str
    stream: str
    version: int
    position: int
    type: str
    schema_version: int
    data: dict
    recorded_at: str
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, envelope: dict) -> Envelope:
        return cls(**{name: envelope[name] for name in cls.__dataclass_fields__ if name in envelope})


def canonical(envelope: dict) -> bytes:
    """The bytes that are signed: the envelope without its signature, as canonical JSON."""
    body = {k: v for k, v in envelope.items() if k != SIGNATURE_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


class Verifier:
    """Checks envelope signatures against the deployment's signing key(s)."""

    def __init__(self, keys: str | list[str] | None = None):
        keys = os.environ.get("CHRONICLE_SIGNING_KEY") if keys is None else keys
        items = keys if isinstance(keys, (list, tuple)) else str(keys or "").split(",")
        self._keys = [k.strip().encode() for k in items if k.strip()]
        if not self._keys:
            raise ValueError("no signing key: pass keys= or set CHRONICLE_SIGNING_KEY (the deployment's)")

    def __repr__(self):
        return f"<Verifier with {len(self._keys)} key(s)>"  # never the keys

    def verify(self, envelope) -> bool:
        """True if ``envelope`` (a dict) was signed with one of the keys and is unchanged since."""
        if not isinstance(envelope, dict):
            return False
        signature = envelope.get(SIGNATURE_FIELD)
        if not isinstance(signature, str) or not signature.startswith(SCHEME):
            return False
        try:
            body = canonical(envelope)
        except (TypeError, ValueError):  # not JSON (or NaN): nothing Chronicle signed
            return False
        macs = [SCHEME + hmac.new(key, body, hashlib.sha256).hexdigest() for key in self._keys]
        return any([hmac.compare_digest(mac, signature) for mac in macs])  # every key: timing says nothing
