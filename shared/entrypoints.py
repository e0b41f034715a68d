"""The kit's RPC entrypoint, and what every service serves without writing it.

``rpc`` is nameko's, with the kit's client errors declared as ``expected_exceptions``: a ValidationError,
NotFound, Conflict, RuleViolation or Forbidden is an answer to a bad request, not a fault of the service (the
logs give it one INFO line with its code, see ``shared.logs``).

``KitService`` is a base for service classes: it serves ``status`` (``chronicle status``) from the kit, so
services do not repeat it. A service class has a ``chronicle = Chronicle(...)`` dependency.
"""
from __future__ import annotations

from nameko import rpc as nameko_rpc

from .errors import ERRORS
from .validation import StatusSchema, load

CLIENT_ERRORS = tuple(ERRORS.values())


class Rpc(nameko_rpc.Rpc):
    def __init__(self, expected_exceptions=(), **kwargs):
        if not isinstance(expected_exceptions, tuple):
            expected_exceptions = (expected_exceptions,)
        super().__init__(expected_exceptions=CLIENT_ERRORS + expected_exceptions, **kwargs)


rpc = Rpc.decorator


class KitService:
    @rpc
    def status(self, **kwargs):
        """Where this service stands: the store's head, the relay's, projections', reactors' and consumers'
        checkpoints and lags, parked events (``shared.observe.status``)."""
        load(StatusSchema, kwargs)
        return self.chronicle.status()
