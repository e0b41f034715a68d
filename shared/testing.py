"""Helpers for Chronicle's tests: domain given/when/then, real containers, bounded waits."""
from __future__ import annotations

import contextlib
import os
import time

from .aggregate import DomainEvent


# -- domain tests -----------------------------------------------------------------------------
def given(aggregate_cls, aggregate_id, *events):
    """An aggregate rebuilt from ``events`` ((type, data) pairs or DomainEvents), nothing pending."""
    domain = [e if isinstance(e, DomainEvent) else DomainEvent(e[0], e[1]) for e in events]
    return aggregate_cls.rebuild(aggregate_id, domain)


def recorded(aggregate) -> list[tuple[str, dict]]:
    """What the command under test recorded, as (type, data) pairs."""
    return [(e.type, e.data) for e in aggregate.pending]


def recorded_types(aggregate) -> list[str]:
    return [e.type for e in aggregate.pending]


# -- waiting ----------------------------------------------------------------------------------
def wait_until(condition, timeout=10.0, interval=0.02, message="condition not met", ignore=()):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.
    Exceptions of the types in ``ignore`` (e.g. a service that is not up yet) count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except (AssertionError, *ignore) as exc:
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout}s" + (f": {last_exc}" if last_exc else ""))
        time.sleep(interval)


# -- service tests ----------------------------------------------------------------------------
# The signing key of test deployments (never a real deployment's): relays sign with it, consumers verify.
TEST_SIGNING_KEY = "chronicle-tests-only-signing-key-0123456789abcdef"
# The token key of test deployments: bearer tokens issued by ``issue_token`` are signed with it.
TEST_TOKEN_KEY = "chronicle-tests-only-token-key-0123456789abcdef"


def service_config(amqp_uri: str, data_dir, **extra) -> dict:
    config = {
        "AMQP_URI": amqp_uri,
        "CHRONICLE_SIGNING_KEY": TEST_SIGNING_KEY,
        "CHRONICLE_TOKEN_KEY": TEST_TOKEN_KEY,
        "CHRONICLE_DATA_DIR": str(data_dir),
        "POLL_INTERVAL": 0.2,
        "CATCHUP_INTERVAL": 2.0,
        "FEED_RPC_TIMEOUT": 5.0,
        "READ_WAIT_SECONDS": 10.0,
    }
    config.update(extra)
    return config


@contextlib.contextmanager
def running(config: dict, *service_classes, check_contracts=True):
    """Run real nameko containers against the real broker for the duration of the block. When the block ends
    well, every event the real Chronicle services appended must match its published contract (docs/contracts):
    pass ``check_contracts=False`` only for a test that stores a malformed event on purpose."""
    from nameko.runners import ServiceRunner

    runner = ServiceRunner(config)
    for cls in service_classes:
        runner.add_service(cls)
    runner.start()
    try:
        yield runner
    except BaseException:
        runner.stop()
        raise
    runner.stop()
    if check_contracts:
        problems = contract_problems(runner)
        assert not problems, "events that break their published contract:\n" + "\n".join(problems)


def contract_problems(runner) -> list[str]:
    """Events the real services in ``runner`` appended to their own (published) streams that do not match their
    JSON Schema in docs/contracts."""
    from .contracts import check_events
    from .kit import Chronicle

    problems = []
    for container in runner.containers:
        if not container.service_cls.__module__.startswith("services."):
            continue  # a test's own stand-in
        for kit in (d for d in container.dependencies if isinstance(d, Chronicle)):
            events, position = [], 0
            while True:
                page = kit.store.read_all(position, kit.categories, limit=1000)
                events += [e for e in page if not kit.registry.is_internal(e.type)]
                if len(page) < 1000:
                    break
                position = page[-1].position
            problems += [f"{container.service_name}: {p}" for p in check_events(container.service_name, events)]
    return problems


class ServiceProcess:
    """One service in its own ``nameko run`` process, as in production: its config written to
    ``<directory>/<name>.yaml``, its output to ``<directory>/<name>.log``; started, SIGKILLed, stopped."""

    ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    SERVICE_CLASSES = {"resource": "ResourceService", "project": "ProjectService", "timesheet": "TimesheetService",
                       "notification": "NotificationService"}

    def __init__(self, name, config: dict, directory, target=None):
        import yaml

        self.name = name
        self.config_path = os.path.join(str(directory), f"{name}.yaml")
        self.log_path = os.path.join(str(directory), f"{name}.log")
        with open(self.config_path, "w") as f:
            yaml.safe_dump(config, f)
        # The service class by name: a module may import other classes (the kit's) that nameko would also run.
        self.target = target or f"services.{name}.service:{self.SERVICE_CLASSES[name]}"
        self.proc = None
        self.kills = 0

    def start(self):
        import subprocess
        import sys

        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nameko", "run", "--config", self.config_path, self.target],
                cwd=self.ROOT, env=dict(os.environ, PYTHONPATH=self.ROOT), stdout=out, stderr=subprocess.STDOUT)
        return self

    def exited(self):
        """The exit code, or None while it runs."""
        return self.proc.poll()

    def tail(self, lines=40) -> str:
        with open(self.log_path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])

    def kill(self):
        import signal

        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL
        self.kills += 1

    def stop(self):
        import subprocess

        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def token_book(config: dict):
    """The token book of ``config``'s deployment (its identity store and token key)."""
    from . import config as cfg
    from .eventstore import open_store
    from .identity import TokenBook

    return TokenBook(open_store(cfg.identity_store_uri(config)), cfg.token_key(config))


_issued: dict = {}  # (identity store, subject, role) -> token: one token per person and role per deployment


def issue_token(config: dict, subject: str = "admin-of-tests", role: str = "admin", *, service=False) -> str:
    """A bearer token of ``config``'s deployment for ``subject`` with ``role`` (issued once, then reused)."""
    from . import config as cfg

    key = (cfg.identity_store_uri(config), cfg.token_key(config), subject, role, service)
    if key not in _issued:
        _issued[key] = token_book(config).issue(subject, role, service=service, label="tests")[1]
    return _issued[key]


def as_caller(config: dict, subject: str = "admin-of-tests", role: str = "admin") -> dict:
    """The nameko context data presenting a token of ``subject`` with ``role``."""
    from .identity import bearer

    return bearer(issue_token(config, subject, role, service=role == "service"))


@contextlib.contextmanager
def rpc_proxy(config: dict, timeout=30.0, token: str | None = None):
    """A standalone RPC proxy that presents ``token`` (default: an admin's) and whose calls raise the kit's errors
    typed (``shared.remote_errors``)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from . import remote_errors  # noqa: F401
    from .identity import bearer

    context = bearer(token) if token else as_caller(config)
    with ClusterRpcProxy(config, timeout=timeout, context_data=context) as cluster:
        yield cluster


def sign(config: dict, envelope: dict) -> dict:
    """``envelope`` signed the way the deployment's relays sign (with the config's signing key)."""
    from . import config as cfg
    from .signing import Signer

    return Signer(cfg.signing_keys(config)).sign(envelope)


def dispatch(config: dict, source_service: str, event_type: str, payload):
    """Publish a message the way a nameko service's EventDispatcher would (unsigned unless ``payload`` is
    already signed: see ``sign``)."""
    from nameko.standalone.events import event_dispatcher

    event_dispatcher(config)(source_service, event_type, payload)


def subprocess_env(config: dict, **extra) -> dict:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in config.items() if isinstance(v, (str, int, float))})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fake_source(service_name: str, categories=None):
    """A real nameko service with the kit that stands in for another Chronicle service in tests:
    ``emit`` appends an event to its own store (so the relay publishes it, signed, and its feed serves it).
    Events are built through the real service's own EventRegistry (shared/catalog.py): data that its schema
    refuses fails the test at ``emit``, so a test cannot drift from what the producer really sends."""
    from .catalog import CATEGORIES, registry
    from .entrypoints import KitService, rpc
    from .eventstore.base import ANY, NewEvent
    from .kit import Chronicle

    cats = list(categories or CATEGORIES.get(service_name) or [service_name])
    events = registry(service_name)

    class FakeSource(KitService):
        name = service_name
        chronicle = Chronicle(categories=cats, events=events)

        @rpc
        def emit(self, stream, type, data, metadata=None):
            schema_version = events.validate(type, data)  # EventSchemaError: the test's data has drifted
            event = NewEvent(type=type, data=data, schema_version=schema_version, metadata=metadata or {})
            self.chronicle.append(stream, [event], ANY)
            recorded = next(e for e in reversed(self.chronicle.store.read_stream(stream)) if e.id == event.id)
            return recorded.to_dict()  # as recorded (what webhooks post); ``sign`` it to publish it by hand

    FakeSource.__name__ = f"Fake{service_name.title()}Service"
    return FakeSource
