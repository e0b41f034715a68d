"""``Chronicle``: the nameko DependencyProvider that wires the kit into a service.

One per service container. It owns the event store, the read models and their runner, the relay
and the consumers, runs them in managed greenlets, and hands each worker a ``ChronicleHandle``
whose metadata (correlation, causation, actor) comes from nameko's call id stack.
"""
from __future__ import annotations

import logging
import threading
import time

from nameko.extensions import DependencyProvider

from . import catalog, logs, observe
from . import config as cfg
from .consumer import Consumer
from .entrypoints import CALLER
from .errors import Conflict, NotFound, Unauthenticated, ValidationError
from .events import EventRegistry
from .eventstore import open_store
from .eventstore.base import category_of
from .handling import execute, load, replayed
from .identity import INTERNAL, Identity, InternalCredentials, TokenBook
from .leadership import Leadership
from .projections import Held, ProjectionRunner, ViewStore, is_transient
from .reactors import ReactorRunner
from .relay import Relay
from .signing import Signer, SigningKeyMissing
from .state import DurableState
from .validation import FeedSchema, FeedStreamSchema
from .validation import load as load_args

log = logging.getLogger(__name__)

FEED_SCAN = 1000  # events a type-filtered feed page reads: the work of the largest unfiltered page


class Chronicle(DependencyProvider):
    def __init__(self, categories, events: EventRegistry, projections=(), sources=None, internal_categories=(),
                 reactors=(), registries=None):
        """``categories``: the stream categories this service owns (relayed and served by its feed).
        ``internal_categories``: own streams that are projected but never published (e.g. unique-key
        reservations).
        ``sources``: {source service: [its categories]} whose events we record and project.
        ``projections``: a callable returning Projection instances (fresh per container).
        ``reactors``: a callable returning Reactor instances: they act on events once the views show them.
        ``registries``: {source: EventRegistry} for a source that shared/catalog.py does not know (tests);
        the catalog gives every Chronicle service's."""
        self.categories = list(categories)
        self.registry = events
        self.projection_factory = projections if callable(projections) else (lambda: list(projections))
        self.sources = dict(sources or {})
        self.source_registries = dict(registries or {})
        self.internal_categories = list(internal_categories)
        self.reactor_factory = reactors if callable(reactors) else (lambda: list(reactors))
        self.wake_relay = threading.Event()
        self.wake_views = threading.Event()
        self._running = False
        self._next_parked_check = 0.0

    # -- lifecycle ----------------------------------------------------------------------------
    def setup(self):
        self.open(self.container.service_name, self.container.config)
        if self.signer is None:  # never publish or believe unsigned events
            raise SigningKeyMissing(f"{self.service_name}: no signing key; set CHRONICLE_SIGNING_KEY "
                                    "(the same on every service; see docs/architecture.md)")

    def open(self, service_name: str, config: dict):
        """Open the store, the read models and the runners (no AMQP yet). ``setup`` calls it inside a
        container; ``chronicle rebuild`` calls it on its own, outside any running service."""
        self.service_name = service_name
        self.config = config
        self.store = open_store(cfg.eventstore_uri(self.service_name, config))
        self.views = ViewStore(config.get("VIEWS_PATH") or cfg.views_path(self.service_name, config))
        self.state = DurableState(config.get("STATE_PATH") or cfg.state_path(self.service_name, config))
        self.state.adopt(self.views)
        keys = cfg.signing_keys(config)
        self.signer = Signer(keys) if keys else None  # required to run (setup); not to rebuild read models
        registries = {s: self.source_registries.get(s) or catalog.registry(s) for s in self.sources}
        self.consumer = Consumer(
            self.service_name, self.store, self.state, self.sources, config, signer=self.signer,
            registries=registries, rpc_timeout=cfg.number(config, "FEED_RPC_TIMEOUT", 5.0),
            credentials=InternalCredentials(TokenBook(None, cfg.token_key(config)), self.service_name),
        )
        self.runner = ProjectionRunner(
            self.store, self.views, self.projection_factory(),
            categories=self.categories + self.internal_categories + self.consumer.categories, registry=self.registry,
            state=self.state,
        )
        self.reactors = ReactorRunner(
            self.store, self.state, self.runner, self.reactor_factory(),
            categories=self.categories + self.internal_categories + self.consumer.categories, registry=self.registry,
        )
        self.relay = Relay(self.service_name, self.store, self.state, self.categories, cfg.amqp_uri(config), config,
                           signer=self.signer)
        # The relay and the reactors run in one replica at a time (shared/leadership.py).
        self.leadership = Leadership(self.service_name, cfg.amqp_uri(config), self.state, self.store, config)
        self.leadership.on_elected = lambda: self.appended(None)
        self.poll_interval = cfg.number(config, "POLL_INTERVAL", 0.5)
        self.catchup_interval = cfg.number(config, "CATCHUP_INTERVAL", 10.0)
        self.read_wait = cfg.number(config, "READ_WAIT_SECONDS", 10.0)
        self.pull_backoff = cfg.number(config, "PULL_BACKOFF_SECONDS", 15.0)

    def start(self):
        self._running = True
        self.beats = {}
        logs.service_started(self.service_name)
        observe.watch(self)
        port = self.config.get("METRICS_PORT") or None  # nameko's YAML gives "" for an unset variable
        self.health = observe.HealthServer.serve(self, int(port)) if port is not None else None
        self.container.spawn_managed_thread(self.leadership.hold, identifier=f"{self.service_name}.leadership")
        self.container.spawn_managed_thread(self._relay_loop, identifier=f"{self.service_name}.relay")
        self.container.spawn_managed_thread(self._views_loop, identifier=f"{self.service_name}.views")
        if self.sources:
            self.container.spawn_managed_thread(self._catchup_loop, identifier=f"{self.service_name}.catchup")
        if self.store.pushes:
            self.container.spawn_managed_thread(self._follow_loop, identifier=f"{self.service_name}.follow")

    def stop(self):
        self._running = False
        if getattr(self, "_subscription", None) is not None:
            self._subscription.stop()
        observe.unwatch(self)
        if getattr(self, "health", None) is not None:
            self.health.leave(self)
            self.health = None
        self.wake_relay.set()
        self.wake_views.set()
        self.leadership.stop()
        self.consumer.close()

    def kill(self):
        self.stop()

    def _loop(self, name, step, wake: threading.Event, interval):
        while self._running:
            logs.bind(service=self.service_name)
            self.beats[name] = time.monotonic()  # /healthz: this loop comes round
            wake.clear()
            try:
                step()
            except Exception:
                log.exception("%s %s failed; retrying", self.service_name, name)
                time.sleep(min(interval, 1.0))
            if self._running:
                wake.wait(interval)

    def _follow_loop(self):
        """Where the store pushes (KurrentDB), wake the relay and the views on every append to our categories,
        whoever made it: another replica's command, another process's feed pull. They still read from their
        checkpoints as always, so the subscription only cuts the wait (a poll interval, 0.5 s by default, for an
        append made outside this process); polling stays the fallback if the subscription drops."""
        categories = self.categories + self.internal_categories + self.consumer.categories
        while self._running:
            try:
                self._subscription = self.store.subscribe(self.store.head_position(categories), categories)
                for _ in self._subscription:
                    self.wake_relay.set()
                    self.wake_views.set()
                    if not self._running:
                        break
            except Exception as exc:
                if self._running:
                    log.warning("%s: store subscription dropped (%s); polling until it is back", self.service_name,
                                exc)
                    time.sleep(1.0)
            finally:
                if self._subscription is not None:
                    self._subscription.stop()
                self._subscription = None

    def _relay_loop(self):
        try:
            self._loop("relay", self.leadership.guard(self.relay.run_once), self.wake_relay, self.poll_interval)
        finally:
            self.relay.close()

    def _views_loop(self):
        def step():
            # Each part runs even when another failed: a projection held at a failing event must not keep
            # the reactors (capped at what the views show) or the operator's retries from running.
            failed = None
            parts = [self.runner.run_once, self.run_reactors]
            # An operator's retries are looked for once a poll interval (as when idle), not at every wake: a busy
            # service is woken once per event.
            if time.monotonic() >= self._next_parked_check:
                self._next_parked_check = time.monotonic() + self.poll_interval
                parts.append(self.retry_parked_events)
            for part in parts:
                try:
                    part()
                except Held:
                    pass  # logged by the runner: tried again next round, then parked
                except Exception as exc:
                    failed = failed or exc
            if failed is not None:
                raise failed

        self._loop("projections", step, self.wake_views, self.poll_interval)

    def run_reactors(self):
        if self.reactors.reactors:
            self.leadership.guard(self.reactors.run_once)(self.reactor_handle)

    def reactor_handle(self, reactor, event):
        return ChronicleHandle(self, None, cause=(reactor, event))

    def retry_parked_events(self) -> int:
        """Retry the parked events an operator asked for (``chronicle parked retry`` marks them in the durable
        state, from any process): a projection re-applies its event, a reactor reacts again, a consumer
        records again (``Consumer.retry_parked``). Resolved on success; otherwise the error is recorded and
        the entry stays parked. Returns how many were resolved."""
        # False from a projection: it has not reached the event yet (the request stays, the catch-up applies it);
        # False from a consumer: the stream is still not settled with the source's feed (a failed retry).
        retry = {
            "projection": (self.runner.retry_parked, None),
            "reactor": (lambda row: self.reactors.retry_parked(row, self.reactor_handle), None),
            "consumer": (getattr(self.consumer, "retry_parked", None),
                         "not settled: our copy of the stream still differs from the source's feed"),
        }
        resolved = 0
        for kind, (fn, unsettled) in retry.items():
            if kind == "reactor" and not self.leadership.active.is_set():
                continue  # effects run in the active replica only (shared/leadership.py); it retries them
            for row in self.state.retry_requested(kind):
                if fn is None:
                    self.state.retry_failed(row["id"], f"this version cannot retry {kind} entries")
                    continue
                try:
                    done = fn(row)
                except Exception as exc:
                    if is_transient(exc):
                        continue  # asked again next round
                    log.warning("%s: retry of parked %s %s (%s) failed: %s", self.service_name, kind,
                                row["event_id"], row["name"], exc)
                    self.state.retry_failed(row["id"], f"{type(exc).__name__}: {exc}")
                    continue
                if done is False:
                    if unsettled is not None:
                        self.state.retry_failed(row["id"], unsettled)
                    continue
                self.state.resolve(row["id"])
                resolved += 1
                log.info("%s: parked %s %s (%s) retried and resolved", self.service_name, kind, row["event_id"],
                         row["name"])
        if resolved:
            self.wake_views.set()
        return resolved

    def _catchup_loop(self):
        never = threading.Event()
        while self._running:
            self.beats["catchup"] = time.monotonic()
            if self.consumer.pull_all():
                self.wake_views.set()
            never.wait(self.catchup_interval)

    def appended(self, position):
        self.wake_relay.set()
        self.wake_views.set()

    def get_dependency(self, worker_ctx):
        return ChronicleHandle(self, worker_ctx)

    def worker_setup(self, worker_ctx):
        logs.bind_worker(worker_ctx)  # every line this worker logs carries its correlation
        observe.rpc_started(worker_ctx)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        observe.rpc_finished(worker_ctx, exc_info)


class ChronicleHandle:
    """What a service method sees as ``self.chronicle``."""

    def __init__(self, kit: Chronicle, worker_ctx=None, cause=None):
        self.kit = kit
        self.worker_ctx = worker_ctx
        self.cause = cause  # (reactor, event) when a reactor acts: its appends are caused by that event
        if cause is not None:
            logs.bind_event(kit.service_name, cause[1])
        self.store = kit.store
        self.registry = kit.registry

    @property
    def config(self) -> dict:
        """The service's config, for its own settings (``shared.config.number(chronicle.config, NAME, default)``)."""
        return self.kit.config

    # -- writes -------------------------------------------------------------------------------
    @property
    def caller(self) -> Identity:
        """Who is calling, as verified by the kit's ``rpc`` entrypoint (shared/entrypoints.py). A reactor acts as
        its own service; an entrypoint that verifies nobody (an event handler) is refused any caller."""
        if self.cause is not None:
            return Identity(token_id=f"{INTERNAL}:{self.kit.service_name}", subject=self.kit.service_name,
                            role="service")
        caller = None
        if self.worker_ctx is not None:
            caller = Identity.from_context(self.worker_ctx.data.get(CALLER))
        if caller is None:
            raise Unauthenticated("no verified caller", code="auth.missing")
        return caller

    def metadata(self, actor=None) -> dict:
        """The metadata of the events a command appends. The actor is the verified caller; ``actor`` only names
        who acts where nobody called (a reactor without one, a test's own container)."""
        meta = {"correlation_id": None, "causation_id": None, "actor": actor, "command_id": None, "command": None}
        ctx = self.worker_ctx
        if ctx is not None:
            stack = ctx.call_id_stack
            if stack:
                meta["correlation_id"], meta["causation_id"] = logs.correlation_of(stack)
            caller = Identity.from_context(ctx.data.get(CALLER))
            if caller is not None:
                meta["actor"], meta["actor_role"] = caller.actor, caller.role
        elif self.cause is not None:
            reactor, event = self.cause
            meta["correlation_id"] = event.metadata.get("correlation_id") or event.id
            meta["causation_id"] = event.id
            meta["cause_actor"] = event.metadata.get("actor")  # whose act this reaction follows
            if meta["actor"] is None:
                meta["actor"] = f"reactor:{reactor.name}"
        return meta

    def execute(self, aggregate_cls, aggregate_id, decide, *, command_id=None, actor=None, expected_version=None,
                reads=(), precheck=None):
        """Decide and append; returns the Outcome (aggregate, events, position, replayed). With ``reads``
        ((AggregateCls, id) pairs), ``decide(aggregate, *read)`` and the append holds only while they do.
        ``precheck()``: checks outside the aggregate, run only for a command not applied yet (a retry returns its
        first outcome without them)."""
        outcome = execute(
            self.store, self.registry, aggregate_cls, aggregate_id, decide,
            command_id=command_id, metadata=self.metadata(actor), expected_version=expected_version,
            on_appended=self.kit.appended, command=self.command_name(), reads=reads, precheck=precheck,
        )
        if not outcome.replayed:
            observe.appended(self.kit.service_name, outcome.events)
        return outcome

    def replayed(self, aggregate_cls, aggregate_id, command_id):
        """The first outcome of a retried command (``command_id`` already applied to this aggregate, by this
        caller), or None. Services pass such checks to ``execute(precheck=)`` instead; this serves the kit's
        processes (``shared.process.Transfer``), which look for a command across several aggregates."""
        return replayed(self.store, self.registry, aggregate_cls, aggregate_id, command_id, self.command_name(),
                        self.metadata()["actor"])

    def command_name(self):
        """The RPC (or handler) method this worker runs, recorded with every event it appends."""
        entrypoint = getattr(self.worker_ctx, "entrypoint", None)
        return getattr(entrypoint, "method_name", None)

    def append(self, stream, events, expected_version):
        """A raw append for the rare write that is not an aggregate command."""
        position = self.store.append(stream, events, expected_version)
        self.kit.appended(position)
        observe.appended(self.kit.service_name, events)
        return position

    # -- reads --------------------------------------------------------------------------------
    def load(self, aggregate_cls, aggregate_id, as_of=None):
        """The aggregate now, or as it stood at ``as_of`` (a timezone-aware datetime)."""
        upto = None
        if as_of is not None:
            upto = lambda e: e.recorded_at <= as_of  # noqa: E731
        aggregate, _ = load(self.store, self.registry, aggregate_cls, aggregate_id, upto=upto)
        return aggregate

    def get(self, aggregate_cls, aggregate_id, as_of=None, *, what):
        """The aggregate, or ``NotFound`` with code ``<what>.not_found``."""
        aggregate = self.load(aggregate_cls, aggregate_id, as_of)
        if aggregate.version < 0:
            raise NotFound(f"{what} {aggregate_id} not found", code=f"{what}.not_found")
        return aggregate

    def stream(self, stream):
        return [self.registry.upcast(e) for e in self.store.read_stream(stream)]

    def event_at(self, stream, version):
        """One event exactly as it was recorded (not upcast), or None: what is sent on as the source wrote it."""
        events = self.store.read_stream(stream, version, limit=1)
        return events[0] if events else None

    def wait_for(self, position, timeout=None):
        """Read your writes: wait (bounded) until the read models have reached ``position``."""
        if position is None:
            return
        if isinstance(position, bool) or not isinstance(position, (int, str)):
            raise ValidationError({"min_position": ["Must be an integer."]})
        try:
            position = int(position)
        except (TypeError, ValueError):
            raise ValidationError({"min_position": ["Must be an integer."]}) from None
        if position < 0:
            raise ValidationError({"min_position": ["Must be 0 or more."]})
        deadline = time.monotonic() + (self.kit.read_wait if timeout is None else timeout)
        while self.kit.runner.position() < position:
            self.catch_up()  # catch up inline rather than wait for the loop
            if self.kit.runner.position() >= position:
                return
            if time.monotonic() > deadline:
                raise Conflict(f"read model has not reached position {position} yet", code="read_model.behind")
            time.sleep(0.02)

    def query(self, fn, min_position=None):
        self.wait_for(min_position)
        return self.kit.views.read(fn)

    def catch_up(self):
        """Bring every read model up to the store's head now. A projection that fails is logged and left
        behind (its queries stay at its checkpoint); it never turns a command into an unexpected error."""
        try:
            self.kit.runner.run_once()
        except Held:
            pass  # an event a projection cannot take yet: logged by the runner, parked after a few rounds
        except Exception:
            log.exception("%s: a projection failed to catch up", self.kit.service_name)

    def pull(self, source: str) -> int:
        """Pull ``source``'s feed now (records what we have not seen). A source that does not answer is
        logged and, for ``PULL_BACKOFF_SECONDS``, not asked again from the command path: one slow RPC
        timeout, not one per command, while a peer is down."""
        consumer = self.kit.consumer
        if consumer.suspended(source):
            return 0
        try:
            recorded = consumer.pull(source)
        except Exception as exc:
            log.warning("%s: pull from %s failed (%s); using what we know for %ss", self.kit.service_name, source,
                        exc, self.kit.pull_backoff)
            consumer.suspend(source, self.kit.pull_backoff)
            return 0
        if recorded:
            self.kit.wake_views.set()
        return recorded

    def pull_all(self) -> int:
        """``pull`` every source now: the freshest facts before a decision over many of them."""
        return sum(self.pull(source) for source in self.kit.sources)

    def ensure(self, check, source: str, error: Exception, fresh: bool = False, seen=None):
        """Facts from another service. Not yet received: if ``check(db)`` fails, pull ``source``'s feed at
        once and check again; refuse with ``error`` only if the fact is still unknown.

        ``fresh=True`` pulls before the first check too, so a change that the source committed before this
        call (a project put on hold, a resource deactivated) is always seen: for rules a stale read must not
        pass. If the source is down, the check runs on what this service already knows.

        ``seen`` ({service: position}, the caller's causal-consistency token) narrows ``fresh`` to what the caller
        has seen: when it names ``source`` and this service has recorded ``source``'s feed that far, there is
        nothing to pull (no round trip); otherwise the feed is pulled as above."""
        if fresh and not self.recorded(source, seen):
            self.pull(source)
        self.catch_up()
        result = self.kit.views.read(check)
        if result or fresh:
            if not result:
                raise error
            return result
        self.pull(source)
        self.catch_up()
        result = self.kit.views.read(check)
        if result:
            return result
        raise error

    def recorded(self, source: str, seen) -> bool:
        """True when ``seen`` names a position of ``source`` that this service has recorded its feed through."""
        position = (seen or {}).get(source)
        return position is not None and self.kit.consumer.recorded_through(source) >= position

    # -- feeds and consumers --------------------------------------------------------------------
    def events_since(self, **kwargs):
        """The feed: a page of this service's own events after ``position`` (default 0), at most ``limit``
        (default 100, at most 1000), in order; or, with ``stream``, that one stream of ours from
        ``from_version`` (a consumer re-reading the truth after a conflict). Every envelope is signed, like
        the relay's. Services expose it as ``def events_since(self, **kwargs)``, so unknown arguments are a
        ValidationError too. For admins and services only: it carries hours and rates.

        With ``types``, only events of those types, from the next ``FEED_SCAN`` events: a page may hold fewer
        than ``limit``, even none, and ``next_position`` still moves past what was left out, so a consumer of
        rare types pages until ``next_position`` reaches ``head``, never forever."""
        self.caller.require("admin", "service", what="the feed")  # it carries hours and rates
        sign = self.kit.signer.sign
        if "stream" in kwargs:
            args = load_args(FeedStreamSchema, kwargs)
            stream = args["stream"]
            if category_of(stream) not in self.kit.categories:
                raise ValidationError({"stream": ["Not a stream this service publishes."]})
            events = self.store.read_stream(stream, args["from_version"], limit=args["limit"])
            return {"events": [sign(e.to_dict()) for e in events], "stream": stream}
        args = load_args(FeedSchema, kwargs)
        position, limit, types = args["position"], args["limit"], args["types"]
        if types is None:
            events = self.store.read_all(position, self.kit.categories, limit=limit)
            next_position = events[-1].position if events else position
        else:
            unknown = [t for t in types if t not in self.registry.types()]
            if unknown:
                raise ValidationError({"types": [f"Not an event type this service has: {', '.join(map(repr, unknown))}."]})
            scanned = self.store.read_all(position, self.kit.categories, limit=FEED_SCAN)
            matching = [e for e in scanned if e.type in types]
            events = matching[:limit]
            # resume after the last event served if more matches were scanned, else after all that was scanned
            last = events[-1] if len(matching) > limit else (scanned[-1] if scanned else None)
            next_position = last.position if last else position
        return {
            "events": [sign(e.to_dict()) for e in events],
            "next_position": next_position,
            "head": self.store.head_position(self.kit.categories),
        }

    def receive(self, source: str, envelope: dict) -> str:
        logs.bind_event(self.kit.service_name, envelope if isinstance(envelope, dict) else {})
        outcome = self.kit.consumer.receive(source, envelope)
        self.kit.wake_views.set()
        return outcome

    def status(self) -> dict:
        """Where this service stands (``chronicle status``): see ``shared.observe.status``."""
        return observe.status(self.kit)
