"""HTTP plumbing of the gateway: problem+json answers, the web server on ``GATEWAY_ADDRESS``, and an entrypoint
whose every failure is a problem, never nameko's plain-text 500."""
from __future__ import annotations

import json
import logging
import math
import threading
import time

from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp, parse_address
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from shared import config as cfg

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem(status: int, title: str, code: str, detail: str = "", errors=None, headers=None) -> Response:
    """An RFC 9457 problem: ``type``, ``title``, ``status``, ``detail`` and our machine-readable ``code``
    (``errors`` maps fields to messages on a 400)."""
    body = {"type": f"urn:chronicle:error:{code}", "title": title, "status": status, "detail": detail or title,
            "code": code}
    if errors:
        body["errors"] = errors
    return Response(json.dumps(body), status=status, headers=headers, content_type=PROBLEM)


def json_response(payload, status=200, headers=None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers, content_type="application/json")


def routing_problem(exc: HTTPException) -> Response:
    """An unknown path (404) or a method the path does not take (405, with ``Allow``), as a problem."""
    allowed = getattr(exc, "valid_methods", None)
    return problem(exc.code, exc.name, "not_found" if exc.code == 404 else f"http_{exc.code}",
                   headers={"Allow": ", ".join(allowed)} if allowed else None)


class ProblemApp(WsgiApp):
    """nameko's WSGI app, with routing errors (unknown path, method not allowed) as problems."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)  # shallow until the worker reads the body, as in nameko
        try:
            provider, values = self.url_map.bind_to_environ(environ).match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            response = routing_problem(exc)
        return response(environ, start_response)


class GatewayServer(WebServer):
    """nameko's web server, listening on ``GATEWAY_ADDRESS``."""

    @property
    def bind_addr(self):
        return parse_address(cfg.gateway_address(self.container.config))

    def get_wsgi_app(self):
        return ProblemApp(self)


class HttpEntrypoint(HttpRequestHandler):
    """nameko's ``http`` on the gateway's server; a worker that fails answers a problem, without its traceback."""

    server = GatewayServer()

    def response_from_exception(self, exc):
        log.error("gateway: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return problem(500, "Internal error", "internal")


http = HttpEntrypoint.decorator


class RateLimiter:
    """A token bucket per key (a token id): ``per_minute`` requests a minute, in bursts of as many. Kept in the
    gateway's memory, so each gateway replica counts on its own."""

    def __init__(self, per_minute: float, clock=time.monotonic):
        self.capacity = max(1.0, per_minute)
        self.rate = self.capacity / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def wait_for(self, key: str) -> int:
        """0 when a request of ``key`` may go now (and counts it), else the seconds to wait."""
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))
