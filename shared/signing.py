"""Envelope signatures: a consumer records only events that really come from their source.

Every envelope a relay publishes or a feed serves carries ``signature``: an HMAC-SHA256 over the
canonical JSON of the envelope without that field (sorted keys, no spaces, ASCII), with the
deployment's signing key. Consumers verify it before recording anything, on the AMQP path and on feed
pulls alike. Anyone who can publish on the broker but does not hold the key cannot make an event
that is believed.

Keys come from config ``CHRONICLE_SIGNING_KEY``: one key, or several separated by commas for a
rotation. The first key signs, every key is accepted. The key is never put in an event, a log line
or an RPC answer; this module's objects do not even show it in their ``repr``.
"""
from __future__ import annotations

import hashlib
import hmac
import json

SIGNATURE_FIELD = "signature"
SCHEME = "hmac-sha256="
MIN_KEY_LENGTH = 32


class SigningKeyMissing(RuntimeError):
    """No signing key is configured: a service will not publish or believe unsigned events."""


def canonical(envelope: dict) -> bytes:
    """The bytes that are signed: the envelope without its signature, as canonical JSON."""
    body = {k: v for k, v in envelope.items() if k != SIGNATURE_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def parse_keys(value) -> list[str]:
    """``CHRONICLE_SIGNING_KEY`` as a list: a comma-separated string, or a list (YAML)."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(k).strip() for k in items if str(k).strip()]


class Signer:
    """Signs with the first key and accepts a signature made with any of the keys."""

    def __init__(self, keys):
        keys = parse_keys(keys)
        if not keys:
            raise SigningKeyMissing(
                "no signing key: set CHRONICLE_SIGNING_KEY (at least 32 characters, e.g. `openssl rand -hex 32`), "
                "the same on every service of the deployment"
            )
        short = [i for i, k in enumerate(keys) if len(k) < MIN_KEY_LENGTH]
        if short:
            raise SigningKeyMissing(f"CHRONICLE_SIGNING_KEY: key number {short[0] + 1} is shorter than "
                                    f"{MIN_KEY_LENGTH} characters")
        self._keys = [k.encode() for k in keys]

    def __repr__(self):
        return f"<Signer with {len(self._keys)} key(s)>"

    @staticmethod
    def _mac(key: bytes, envelope: dict) -> str:
        return SCHEME + hmac.new(key, canonical(envelope), hashlib.sha256).hexdigest()

    def sign(self, envelope: dict) -> dict:
        """A copy of ``envelope`` with its signature (any signature it had is replaced)."""
        return {**envelope, SIGNATURE_FIELD: self._mac(self._keys[0], envelope)}

    def verify(self, envelope) -> bool:
        """True if the envelope is signed by one of our keys and unchanged since."""
        if not isinstance(envelope, dict):
            return False
        signature = envelope.get(SIGNATURE_FIELD)
        if not isinstance(signature, str) or not signature.startswith(SCHEME):
            return False
        try:
            macs = [self._mac(key, envelope) for key in self._keys]
        except (TypeError, ValueError):  # not JSON-serialisable (or NaN): nothing we signed
            return False
        # compare_digest against every key, so the time taken says nothing about which key matched
        return any([hmac.compare_digest(mac, signature) for mac in macs])
