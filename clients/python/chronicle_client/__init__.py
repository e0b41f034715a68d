"""chronicle-client: call Chronicle's services and follow their events from any Python program or nameko
service, without Chronicle's own code.

- ``Chronicle(amqp_uri, token)``: typed proxies ``.project``, ``.timesheet``, ``.resource``, ``.notification``;
- the errors (``ValidationError``, ``NotFound``, ``Conflict``, ``RuleViolation``, ``Forbidden``,
  ``Unauthenticated``), each with ``code``, ``message`` and ``errors``;
- ``Envelope`` and ``Verifier`` (event signatures);
- ``Subscription``: catch up from a service's feed with a stored cursor, then follow AMQP.
"""
from .client import Chronicle, ServiceProxy, bearer, resolve_token
from .consumer import Cursor, Subscription
from .envelope import Envelope, Verifier, canonical
from .errors import (
    ERRORS,
    ChronicleError,
    Conflict,
    Forbidden,
    NotFound,
    RuleViolation,
    Unauthenticated,
    ValidationError,
    from_remote,
)

__all__ = [
    "Chronicle", "ServiceProxy", "bearer", "resolve_token", "Cursor", "Subscription", "Envelope", "Verifier",
    "canonical", "ERRORS", "ChronicleError", "Conflict", "Forbidden", "NotFound", "RuleViolation",
    "Unauthenticated", "ValidationError", "from_remote",
]
