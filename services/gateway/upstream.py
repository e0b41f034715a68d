"""The services behind the gateway: RPC on behalf of the verified caller, each call bounded in time."""
from __future__ import annotations

import eventlet
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ReplyListener

from shared import config as cfg
from shared import remote_errors  # noqa: F401  the services' refusals arrive as the kit's typed errors
from shared.entrypoints import Authenticator
from shared.identity import Identity, InternalCredentials, TokenBook

from .http import RateLimiter


class Unavailable(Exception):
    """A service did not answer in time, or nothing serves it."""


class Upstream(DependencyProvider):
    reply_listener = ReplyListener()
    authenticator = Authenticator()  # the kit's: the same token book as the services' RPCs

    def setup(self):
        config = self.container.config
        # the gateway's own service identity, for /health (which no caller's token backs)
        self.credentials = InternalCredentials(TokenBook(None, cfg.token_key(config)), "gateway")
        self.timeout = cfg.number(config, "GATEWAY_RPC_TIMEOUT", 15.0)
        self.limiter = RateLimiter(cfg.number(config, "GATEWAY_RATE_LIMIT", 600))
        self.export_page = int(cfg.number(config, "GATEWAY_EXPORT_PAGE", 1000))  # rows an export reads per RPC

    def get_dependency(self, worker_ctx):
        return Session(self, worker_ctx)


class Session:
    """One HTTP request's calls. Once ``authenticate`` has verified the bearer token, every RPC carries it in
    the context data (``authorization``), so the services see the same caller and decide its rights."""

    def __init__(self, upstream: Upstream, worker_ctx):
        self.upstream, self.worker_ctx = upstream, worker_ctx

    def authenticate(self, authorization) -> Identity:
        identity = self.upstream.authenticator.book.authenticate(authorization)  # Unauthenticated otherwise
        self.worker_ctx.data["authorization"] = authorization
        return identity

    def as_gateway(self):
        """Call as the gateway itself (role ``service``), not on anyone's behalf."""
        self.worker_ctx.data.update(self.upstream.credentials.refresh())

    @property
    def export_page(self) -> int:
        return self.upstream.export_page

    def retry_after(self, identity: Identity) -> int:
        return self.upstream.limiter.wait_for(identity.token_id)

    def call(self, service: str, method: str, timeout: float | None = None, **kwargs):
        proxy = MethodProxy(self.worker_ctx, service, method, self.upstream.reply_listener)
        try:
            with eventlet.Timeout(timeout or self.upstream.timeout):
                return proxy.call_async(**kwargs).result()
        except eventlet.Timeout:
            raise Unavailable(f"{service} did not answer within {timeout or self.upstream.timeout:g}s") from None
        except UnknownService:
            raise Unavailable(f"{service} is not running") from None
