"""What operators see of a running service: its status, Prometheus metrics and health endpoints.

- ``status(kit)``: the store's head, the relay's, each projection's, reactor's and consumer's checkpoint and lag,
  and the parked events. The kit serves it as the ``status`` RPC of every service (``chronicle status``).
- Metrics (prometheus-client): counters and a latency histogram updated by small hooks in the kit, and gauges
  (lags, checkpoints, parked events) computed from ``status`` when Prometheus scrapes.
- ``HealthServer``: with ``METRICS_PORT`` set, one small HTTP server per service serves ``/metrics``, ``/healthz``
  (liveness: the kit's loops are alive) and ``/readyz`` (readiness: the store answers and the relay is not stuck).

docs/operations.md documents every metric and both endpoints.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily

from .errors import ChronicleError

log = logging.getLogger(__name__)

COMMANDS = Counter("chronicle_commands", "RPC calls handled, by service, method and outcome (ok, the client"
                   " error's class, or error)", ["service", "command", "outcome"])
COMMAND_SECONDS = Histogram("chronicle_command_seconds", "Time to handle an RPC call, by service and method",
                            ["service", "command"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
EVENTS_APPENDED = Counter("chronicle_events_appended", "Events appended to the service's own store, by type",
                          ["service", "type"])
EVENTS_PUBLISHED = Counter("chronicle_events_published", "Events the relay published (broker-confirmed)",
                           ["service"])
CONSUMER_RECORDS = Counter("chronicle_consumer_records", "Foreign events offered to a consumer, by source and"
                           " outcome (recorded, duplicate, gap, rejected, ...)", ["service", "source", "outcome"])
DELIVERIES = Counter("chronicle_deliveries", "E-mail and webhook delivery attempts, by channel and outcome",
                     ["service", "channel", "outcome"])

# Attempts are events with an ``outcome``: counting them where they are appended needs no hook in the courier.
DELIVERY_EVENTS = {"EmailAttempted": "email", "DeliveryAttempted": "webhook"}

QUIET_COMMANDS = ("events_since", "status")
LIVENESS_SECONDS = 300.0  # default: a kit loop that has not come round for this long is wedged


# -- hooks the kit calls -------------------------------------------------------------------------
def rpc_started(worker_ctx):
    worker_ctx.chronicle_started = time.perf_counter()  # not in ``data``: that travels on with outgoing calls


def rpc_finished(worker_ctx, exc_info):
    from nameko.rpc import Rpc

    if not isinstance(worker_ctx.entrypoint, Rpc):
        return
    started = getattr(worker_ctx, "chronicle_started", None)
    exc = exc_info[1] if exc_info else None
    outcome = "ok" if exc is None else type(exc).__name__ if isinstance(exc, ChronicleError) else "error"
    service, command = worker_ctx.service_name, worker_ctx.entrypoint.method_name
    COMMANDS.labels(service, command, outcome).inc()
    if started is not None:
        elapsed = time.perf_counter() - started
        COMMAND_SECONDS.labels(service, command).observe(elapsed)
        if exc is None:  # the kit's own plumbing (feed pages, status) is polled: not worth a line at INFO
            level = logging.DEBUG if command in QUIET_COMMANDS else logging.INFO
            log.log(level, "%s.%s ok in %.1f ms", service, command, elapsed * 1000)


def appended(service, events):
    for event in events:
        EVENTS_APPENDED.labels(service, event.type).inc()
        channel = DELIVERY_EVENTS.get(event.type)
        if channel and isinstance(event.data, dict):
            DELIVERIES.labels(service, channel, str(event.data.get("outcome"))).inc()


def published(service, count):
    EVENTS_PUBLISHED.labels(service).inc(count)


def consumer_record(service, source, outcome):
    CONSUMER_RECORDS.labels(service, source, str(outcome)).inc()


# -- status --------------------------------------------------------------------------------------
def status(kit) -> dict:
    """Where this service stands, from its own store and files (no call to another service)."""
    own_head = kit.store.head_position(kit.categories)
    head = kit.store.head_position(kit.runner.categories)
    relay = kit.relay.position()
    projections = {p.name: kit.views.get_checkpoint(p.name) for p in kit.runner.projections}
    reactors = {r.name: kit.state.get_checkpoint(kit.reactors.checkpoint_name(r)) for r in kit.reactors.reactors}
    consumers = {s: {"checkpoint": kit.state.get_checkpoint(kit.consumer.checkpoint_name(s)),
                     "recorded_through": recorded_through(kit, s)} for s in kit.consumer.sources}
    parked = {}
    for row in kit.state.parked():
        key = f"{row['kind']}:{row['name']}"
        parked[key] = parked.get(key, 0) + 1
    active = _active(kit)
    return {
        "service": kit.service_name,
        "active": active,  # the replica that relays and reacts (a standby's relay stands still by design)
        "store": {"head": head, "own_head": own_head},
        "relay": {"checkpoint": relay, "lag": max(0, own_head - relay),
                  "stuck": active and relay_stuck(kit, relay, own_head)},
        "projections": {n: {"checkpoint": c, "lag": max(0, head - c)} for n, c in projections.items()},
        "reactors": {n: {"checkpoint": c, "lag": max(0, head - c)} for n, c in reactors.items()},
        # positions in the source's store (the feed's checkpoint, and the latest event recorded by either path):
        # ``chronicle status`` compares them with the source's head
        "consumers": consumers,
        "parked": parked,
        "loops": {name: round(time.monotonic() - beat, 1) for name, beat in getattr(kit, "beats", {}).items()},
    }


def _active(kit) -> bool:
    """Whether this replica holds its service's lease (see shared/leadership.py); True without leadership."""
    leadership = getattr(kit, "leadership", None)
    return leadership is None or leadership.active.is_set()


def recorded_through(kit, source) -> int:
    """The source position of the newest event recorded from ``source`` (by AMQP or the feed), 0 if none."""
    from .consumer import mirror_category

    categories = [mirror_category(kit.service_name, c) for c in kit.consumer.sources[source]]
    head = kit.store.head_position(categories)
    if not head:
        return 0
    newest = kit.store.read_all(head - 1, categories, limit=1)
    origin = (newest[0].metadata or {}).get("origin") or {} if newest else {}
    return int(origin.get("position") or 0)


def relay_stuck(kit, position, head) -> bool:
    """Behind, and no progress for ``RELAY_STUCK_SECONDS`` (default 60) since it was first seen behind at that
    checkpoint: the broker refuses, or the relay hangs."""
    from . import config as cfg

    now, behind = time.monotonic(), position < head
    seen = getattr(kit, "_relay_seen", None)  # (checkpoint, behind since)
    if not behind:
        kit._relay_seen = None
        return False
    if seen is None or seen[0] != position:
        kit._relay_seen = seen = (position, now)
    return now - seen[1] > cfg.number(kit.config, "RELAY_STUCK_SECONDS", 60.0)


def liveness(kit) -> tuple[bool, dict]:
    """Alive while every kit loop comes round within ``LIVENESS_SECONDS`` (one round of the projections may be
    a long replay at start-up; the catch-up loop sleeps ``CATCHUP_INTERVAL`` between rounds)."""
    from . import config as cfg

    limit = max(cfg.number(kit.config, "LIVENESS_SECONDS", LIVENESS_SECONDS), 3 * kit.catchup_interval)
    beats = {name: time.monotonic() - beat for name, beat in getattr(kit, "beats", {}).items()}
    wedged = {name: round(age, 1) for name, age in beats.items() if age > limit}
    alive = getattr(kit, "_running", False) and not wedged
    return alive, {"alive": alive, "loops": {n: round(a, 1) for n, a in beats.items()}, "wedged": wedged}


def readiness(kit) -> tuple[bool, dict]:
    try:
        head = kit.store.head_position(kit.categories)
    except Exception as exc:  # the store does not answer: not ready, whatever the reason
        return False, {"ready": False, "store": f"unreachable: {type(exc).__name__}: {exc}"}
    position, active = kit.relay.position(), _active(kit)
    stuck = active and relay_stuck(kit, position, head)  # a standby does not relay: its checkpoint stands still
    ready = not stuck  # the server itself lives only while the container runs
    return ready, {"ready": ready, "store": "ok", "active": active,
                   "relay": {"checkpoint": position, "head": head, "stuck": stuck}}


# -- gauges from status, computed when scraped ----------------------------------------------------
_kits: weakref.WeakSet = weakref.WeakSet()


class _StatusCollector:
    def collect(self):
        relay = GaugeMetricFamily("chronicle_relay_lag", "Positions the relay is behind the service's own head",
                                  labels=["service"])
        projection = GaugeMetricFamily("chronicle_projection_lag", "Positions a read model is behind the store's"
                                       " head", labels=["service", "projection"])
        reactor = GaugeMetricFamily("chronicle_reactor_lag", "Positions a reactor is behind the store's head",
                                    labels=["service", "reactor"])
        consumer = GaugeMetricFamily("chronicle_consumer_position", "How far in its source's store a consumer"
                                     " has recorded (feed checkpoint or newest event received)",
                                     labels=["service", "source"])
        head = GaugeMetricFamily("chronicle_store_head", "The store's head position", labels=["service"])
        parked = GaugeMetricFamily("chronicle_parked_events", "Events set aside and not yet resolved",
                                   labels=["service", "kind", "name"])
        for kit in list(_kits):
            try:
                s = status(kit)
            except Exception:  # a scrape never fails on one service's trouble; /readyz says it
                log.warning("status of %s failed during a scrape", getattr(kit, "service_name", "?"), exc_info=True)
                continue
            name = s["service"]
            head.add_metric([name], s["store"]["head"])
            relay.add_metric([name], s["relay"]["lag"])
            for p, v in s["projections"].items():
                projection.add_metric([name, p], v["lag"])
            for r, v in s["reactors"].items():
                reactor.add_metric([name, r], v["lag"])
            for src, v in s["consumers"].items():
                consumer.add_metric([name, src], max(v["checkpoint"], v["recorded_through"]))
            for key, count in s["parked"].items():
                kind, _, pname = key.partition(":")
                parked.add_metric([name, kind, pname], count)
        return [head, relay, projection, reactor, consumer, parked]


REGISTRY.register(_StatusCollector())


def watch(kit):
    """Include this kit in the scraped gauges (until it is garbage)."""
    _kits.add(kit)


def unwatch(kit):
    _kits.discard(kit)


# -- the HTTP server -----------------------------------------------------------------------------
class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # probes every few seconds: not worth a line each
        pass


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``port`` (0: a free one, see ``.port``). Several services run in
    one process (a ServiceRunner) share one server: healthy and ready only when each of them is."""

    _by_port: dict = {}

    def __init__(self, port: int, host: str = "0.0.0.0"):
        self.kits = []
        metrics = make_wsgi_app()

        def app(environ, start_response):
            path = environ.get("PATH_INFO", "")
            if path in ("/healthz", "/readyz"):
                check = liveness if path == "/healthz" else readiness
                answers = {kit.service_name: check(kit) for kit in list(self.kits)}
                ok = all(answer[0] for answer in answers.values())
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "application/json")])
                body = {name: answer[1] for name, answer in answers.items()}
                if len(body) == 1:
                    body = next(iter(body.values()))
                return [json.dumps(body).encode()]
            return metrics(environ, start_response)

        self.server = make_server(host, int(port), app, handler_class=_QuietHandler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="chronicle.metrics", daemon=True)

    @classmethod
    def serve(cls, kit, port: int):
        server = cls._by_port.get(int(port)) if int(port) else None
        if server is None:
            server = cls(port)
            cls._by_port[server.port] = server  # before anything that may yield to another starting service
            server.kits.append(kit)
            server.thread.start()
            log.info("metrics, /healthz and /readyz on port %d", server.port)
        else:
            server.kits.append(kit)
        return server

    def leave(self, kit):
        if kit in self.kits:
            self.kits.remove(kit)
        if not self.kits:
            self._by_port.pop(self.port, None)
            self.server.shutdown()
            self.server.server_close()
