"""Chronicle's errors, rebuilt from what any nameko caller receives.

A service answers a refused call with nameko's ``RemoteError``, whose ``value`` is a JSON object
``{"type": "ValidationError", "code": "...", "message": "...", "errors": {...}}``. Older services sent only
``"<message>"`` (``str(RemoteError)`` is ``"<Type> <message>"``): then the class and message are kept and the
code is the class's default.
"""
from __future__ import annotations

import json


class ChronicleError(Exception):
    """A call Chronicle refused. ``code`` is machine-readable; ``errors`` maps field names to messages."""

    code = "error"

    def __init__(self, message: str = "", code: str | None = None, errors: dict | None = None):
        self.message = message
        self.code = code or type(self).code
        self.errors = errors or {}
        super().__init__(message, self.code, self.errors)

    def __str__(self):
        return f"{self.code}: {self.message}" if self.message else self.code


class ValidationError(ChronicleError):
    """Bad input; nothing was changed. ``errors`` names each refused field."""

    code = "validation_failed"


class NotFound(ChronicleError):
    code = "not_found"


class Conflict(ChronicleError):
    code = "conflict"


class RuleViolation(ChronicleError):
    """A business rule refused the command (e.g. the period is locked)."""

    code = "rule_violation"


class Forbidden(ChronicleError):
    """The caller's role may not do this."""

    code = "forbidden"


class Unauthenticated(ChronicleError):
    """No verified caller: the token is missing, invalid, expired or revoked (``auth.*`` codes)."""

    code = "auth.invalid"


ERRORS = {cls.__name__: cls for cls in (ValidationError, NotFound, Conflict, RuleViolation, Forbidden,
                                        Unauthenticated)}


def from_remote(exc_type: str | None, value) -> ChronicleError | None:
    """The client error for a nameko ``RemoteError(exc_type, value)``; None when it is not one of Chronicle's
    (a fault of the service rather than a refusal: the RemoteError is then raised as it is)."""
    described = _json_object(value)
    if described is not None and described.get("type") in ERRORS:
        cls = ERRORS[described["type"]]
        errors = described.get("errors")
        return cls(str(described.get("message") or ""), code=described.get("code"),
                   errors=errors if isinstance(errors, dict) else None)
    if exc_type in ERRORS:
        return ERRORS[exc_type](str(value or ""))
    return None


def _json_object(value) -> dict | None:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None
