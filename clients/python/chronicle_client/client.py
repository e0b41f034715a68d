"""Calling Chronicle over nameko RPC, with a bearer token, and Chronicle's errors as Python exceptions."""
from __future__ import annotations

import os

from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from . import errors

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


def bearer(token: str) -> dict:
    """The nameko context data that presents ``token`` on a call."""
    return {"authorization": f"Bearer {token}"}


def resolve_token(token: str | None = None) -> str | None:
    """The token passed in, or ``CHRONICLE_TOKEN``. Without one, calls go out without a token (and Chronicle
    answers ``Unauthenticated`` with code ``auth.missing``)."""
    return token or os.environ.get("CHRONICLE_TOKEN") or None


class ServiceProxy:
    """One service's RPCs. Subclasses (``chronicle_client.services``) add a typed method per RPC."""

    service: str

    def __init__(self, cluster):
        self._rpc = getattr(cluster, self.service)

    def _call(self, method: str, **kwargs):
        arguments = {k: v for k, v in kwargs.items() if v is not None}
        try:
            return getattr(self._rpc, method)(**arguments)
        except RemoteError as exc:
            error = errors.from_remote(exc.exc_type, exc.value)
            if error is None:
                raise
            raise error from None

    def events_since(self, *, position: int = 0, limit: int = 100, types: list[str] | None = None) -> dict:
        """A page of the service's events after ``position``: ``{"events": [signed envelopes],
        "next_position": ..., "head": ...}``. With ``types``, only those event types (the cursor
        ``next_position`` still moves past the others)."""
        return self._call("events_since", position=position, limit=limit, types=types)

    def status(self) -> dict:
        """Where the service stands: its head, and the lag of its relay, read models and consumers."""
        return self._call("status")


class Chronicle:
    """A connection to a Chronicle deployment: ``chronicle.project``, ``.timesheet``, ``.resource`` and
    ``.notification`` are typed proxies. Use it as a context manager, or call ``close()``.

    ``amqp_uri`` defaults to ``AMQP_URI`` or the local broker; ``token`` to ``CHRONICLE_TOKEN``.
    """

    def __init__(self, amqp_uri: str | None = None, token: str | None = None, timeout: float = 30.0):
        from .services import NotificationProxy, ProjectProxy, ResourceProxy, TimesheetProxy

        token = resolve_token(token)
        config = {"AMQP_URI": amqp_uri or os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI}
        self._cluster_proxy = ClusterRpcProxy(config, context_data=bearer(token) if token else None,
                                              timeout=timeout)
        cluster = self._cluster_proxy.start()
        self.project = ProjectProxy(cluster)
        self.timesheet = TimesheetProxy(cluster)
        self.resource = ResourceProxy(cluster)
        self.notification = NotificationProxy(cluster)

    def service(self, name: str) -> ServiceProxy:
        return getattr(self, name)

    def close(self):
        self._cluster_proxy.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
