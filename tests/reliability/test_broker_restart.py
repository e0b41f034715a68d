"""Broker restart under load (issue 9, item 3): the services ride out a RabbitMQ outage by themselves.

The four services run as `nameko run` processes against a private RabbitMQ node (the shared node on
5672 is never stopped). Callers log time with command ids while the node's app is stopped for ~10 s and
started again. While it is down, events are appended to the project store by a second writer, as a
worker that was mid-command would. Then:
- no service process exited, and every RPC and event queue has a consumer again (within 30 s);
- every acknowledged command has exactly one TimeLogged in the timesheet store (read from SQLite);
- every caller got an answer or an error within its timeout (plus 10 s of slack), never a hang;
- after the restart every failed command, retried with its command id, succeeds, and new commands do;
- the relay published everything (events appended during the outage too) and every consumer recorded
  every event of its sources.
"""
from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from kombu import Connection, Queue
from nameko.exceptions import UnknownService
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ClusterRpcProxy

from shared.testing import ServiceProcess, as_caller, service_config, wait_until

from .broker_node import RabbitNode, rabbitmq_scripts

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480),  # a slow broker boot on a busy machine
              pytest.mark.skipif(rabbitmq_scripts() is None, reason="rabbitmq-server not installed")]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("resource", "project", "timesheet", "notification")
CALLERS = 3
CALL_TIMEOUT = 10.0  # each caller's RPC timeout
HANG_AFTER = CALL_TIMEOUT + 10.0  # an answer or an error later than this is a hang (slack: a busy machine)
LOAD_BEFORE = 6.0  # seconds of load before the outage
OUTAGE = 10.0
LOAD_AFTER = 12.0  # seconds of load once the broker is back
APPENDED_DURING_OUTAGE = 5


class Caller:
    """Logs time in a loop with command ids; records every call's outcome and how long it took."""

    def __init__(self, index, config, employee_id, project_id):
        self.index, self.config = index, config
        self.employee_id, self.project_id = employee_id, project_id
        self.attempts = []  # (command_id, kwargs, outcome, seconds, started)
        self.proxy = self.rpc = None
        self.running = True

    def kwargs(self, n):
        day = date(2031, 1, 6) + timedelta(days=n % 350)
        return dict(employee_id=self.employee_id, project_id=self.project_id, date=day.isoformat(), hours=0.25,
                    command_id=f"broker-{self.index}-{n}")

    def connect(self):
        proxy = ClusterRpcProxy(self.config, timeout=CALL_TIMEOUT, context_data=as_caller(self.config))
        self.rpc = proxy.start()
        self.proxy = proxy

    def disconnect(self):
        proxy, self.proxy, self.rpc = self.proxy, None, None
        if proxy is not None:
            try:
                proxy.stop()
            except Exception:  # already broken by the outage
                pass

    def call(self, kwargs):
        """Returns (outcome, seconds): "ok", "unsent" (no connection to the broker), or the error's name."""
        started = time.monotonic()
        if self.rpc is None:
            try:
                self.connect()
            except Exception:  # the broker is away: the command was not sent
                return "unsent", time.monotonic() - started
        try:
            self.rpc.timesheet.log_time(**kwargs)
            outcome = "ok"
        except Exception as exc:  # an error is an answer; the count and the timing are what we check
            outcome = type(exc).__name__
            self.disconnect()  # a standalone proxy that lost its connection cannot be used again
        return outcome, time.monotonic() - started

    def run(self):
        n = 0
        while self.running:
            kwargs = self.kwargs(n)
            started = time.monotonic()
            outcome, seconds = self.call(kwargs)
            self.attempts.append((kwargs["command_id"], kwargs, outcome, seconds, started))
            n += 1
            if outcome != "ok":
                time.sleep(0.2)  # the broker is away: do not spin
        self.disconnect()


def rows(path: Path, sql, args=()):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql, args).fetchall()


def store(data_dir, service):
    return data_dir / f"{service}.events.db"


def event_ids(data_dir, service, category):
    return {r[0] for r in rows(store(data_dir, service), "SELECT id FROM events WHERE category = ?", (category,))}


def head_position(data_dir, service="project"):
    return rows(store(data_dir, service), "SELECT MAX(position) FROM events")[0][0]


def watch_publications(config, service):
    """A durable queue of our own on ``<service>.events``: what the relay really published."""
    queue = Queue(f"broker-test-{service}-events", exchange=get_event_exchange(service, config), routing_key="#",
                  durable=True)
    with Connection(config["AMQP_URI"]) as conn:
        queue.bind(conn.default_channel).declare()
    return queue


def consumer_counts(config, queue_names):
    """{queue: consumers}, asked over AMQP (quicker than rabbitmqctl on a busy machine)."""
    with Connection(config["AMQP_URI"], connect_timeout=2) as conn:
        channel = conn.channel()
        return {name: channel.queue_declare(name, passive=True).consumer_count for name in queue_names}


def published_ids(config, queue):
    ids = set()
    with Connection(config["AMQP_URI"]) as conn:
        bound = queue.bind(conn.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            ids.add(json.loads(message.body)["id"])
    return ids


def append_while_down(data_dir, project_id, count):
    """A second writer on the project store (as a worker caught mid-command by the outage): real domain
    commands, appended while nobody can publish them."""
    from services.project.domain import Project
    from services.project.events import events
    from shared.eventstore import open_store
    from shared.handling import execute

    project_store = open_store(f"sqlite:///{store(data_dir, 'project')}")
    try:
        ids = []
        for i in range(count):
            outcome = execute(project_store, events, Project, project_id,
                              lambda p, i=i: p.add_task(f"outage-task-{i}", f"Added during the outage {i}"),
                              command_id=f"outage-{i}", metadata={"actor": "broker-restart-test"})
            ids += [e.id for e in outcome.events]
        return ids
    finally:
        project_store.close()


@pytest.fixture
def broker():
    with tempfile.TemporaryDirectory(prefix="chronicle-broker-") as base:
        node = RabbitNode(Path(base))
        try:
            yield node.start()
        finally:
            node.stop()


def test_services_ride_out_a_broker_restart_under_load(broker, tmp_path, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = service_config(broker.amqp_uri, data_dir, CATCHUP_INTERVAL=2.0, FEED_RPC_TIMEOUT=3.0,
                            PULL_BACKOFF_SECONDS=5.0, REMINDER_CHECK_SECONDS=3600)
    processes = {name: ServiceProcess(name, config, tmp_path).start() for name in SERVICES}
    callers, threads = [], []
    try:
        with ClusterRpcProxy(config, timeout=30, context_data=as_caller(config)) as rpc:
            for name in SERVICES:
                wait_until(lambda name=name: getattr(rpc, name).events_since(position=0, limit=1), timeout=90,
                           ignore=(UnknownService,), message=f"{name} did not start")
            manager = rpc.resource.register_resource(name="Mona", email="mona@broker.example", command_id="mgr")
            project = rpc.project.create_project(name="Outage", code="OUT", manager_id=manager["id"],
                                                 command_id="project")
            devs = []
            for i in range(CALLERS):
                dev = rpc.resource.register_resource(name=f"Dev {i}", email=f"dev{i}@broker.example",
                                                     command_id=f"dev-{i}")
                rpc.project.assign_member(project_id=project["id"], employee_id=dev["id"], command_id=f"assign-{i}")
                devs.append(dev)

        watched = watch_publications(config, "project")
        callers = [Caller(i, config, dev["id"], project["id"]) for i, dev in enumerate(devs)]
        threads = [threading.Thread(target=c.run, name=f"caller-{c.index}") for c in callers]
        for t in threads:
            t.start()
        time.sleep(LOAD_BEFORE)  # steady load before the outage
        ok_before = sum(a[2] == "ok" for c in callers for a in c.attempts)

        service_queues = [q for q in broker.queues() if q.startswith(("rpc-", "evt-"))]
        assert all(f"rpc-{s}" in service_queues for s in SERVICES)
        stopping = time.monotonic()
        broker.stop_app()
        down = time.monotonic()
        appended = append_while_down(data_dir, project["id"], APPENDED_DURING_OUTAGE)
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        starting = time.monotonic()
        broker.start_app()
        up = time.monotonic()

        # Every service consumes again by itself: its RPC queue and its event queues have consumers.
        def consumed():
            counts = consumer_counts(config, service_queues)
            return all(counts.values()) or None

        reconnected = None
        try:
            wait_until(consumed, timeout=30, interval=0.2, ignore=(Exception,),  # not up yet: "not yet"
                       message="a service queue has no consumer after the restart")
            reconnected = time.monotonic() - up
        except AssertionError:
            pass

        time.sleep(max(0.0, LOAD_AFTER - (time.monotonic() - up)))  # load goes on once the broker is back
        for c in callers:
            c.running = False
        for t in threads:
            t.join(timeout=HANG_AFTER + 5)
        hung_callers = [t.name for t in threads if t.is_alive()]

        exited = {name: p.exited() for name, p in processes.items() if p.exited() is not None}
        attempts = [a for c in callers for a in c.attempts]
        sent = [a for a in attempts if a[2] != "unsent"]
        unsent = [a for a in attempts if a[2] == "unsent"]
        acknowledged = [s for s in sent if s[2] == "ok"]
        failed = [s for s in sent if s[2] != "ok"]
        slowest = max(a[3] for a in attempts)
        errors = sorted({s[2] for s in failed})
        ok_after = [a for a in acknowledged if a[4] >= up]

        # After the restart: every failed command, retried with its command id, succeeds (exactly once),
        # and a new one does too.
        retried_ok = 0
        if not exited and reconnected is not None:
            with ClusterRpcProxy(config, timeout=CALL_TIMEOUT, context_data=as_caller(config)) as rpc:
                for _, kwargs, *_ in failed:
                    rpc.timesheet.log_time(**kwargs)
                    retried_ok += 1

        # What the stores hold, read straight from SQLite.
        logged = {}
        for (metadata,) in rows(store(data_dir, "timesheet"), "SELECT metadata FROM events WHERE type = 'TimeLogged'"):
            command_id = json.loads(metadata).get("command_id")
            logged[command_id] = logged.get(command_id, 0) + 1
        lost = [s[0] for s in acknowledged if logged.get(s[0], 0) == 0]
        duplicated = [k for k, n in logged.items() if n > 1]

        with capsys.disabled():  # the figures show in `make test` too
            print(f"\nbroker restart: node booted in {broker.boot_seconds:.1f}s; stop_app took {down - stopping:.1f}s, "
                  f"down {starting - down:.1f}s, start_app took {up - starting:.1f}s; {CALLERS} callers, "
                  f"call timeout {CALL_TIMEOUT:.0f}s; every queue consumed again "
                  + (f"{reconnected:.1f}s after start_app" if reconnected is not None else "NEVER (30 s)"))
            print(f"  commands sent {len(sent)}, acknowledged {len(acknowledged)} ({ok_before} before the outage, "
                  f"{len(ok_after)} after the restart), "
                  f"failed with an error {len(failed)} {errors}, lost {len(lost)}, duplicated {len(duplicated)}; "
                  f"not sent (no broker to connect to) {len(unsent)}")
            print(f"  slowest answer or error {slowest:.1f}s, hung callers {len(hung_callers)}, "
                  f"processes exited {len(exited)} {exited or ''}, failed commands retried ok {retried_ok}/{len(failed)}, "
                  f"events appended during the outage {len(appended)}")
        for name in exited:
            print(f"--- {name} (exited {exited[name]}):\n{processes[name].tail()}")

        assert not exited, f"service processes exited: {exited}"
        assert reconnected is not None, f"queues without consumers after the restart: {broker.queues()}"
        assert not hung_callers and slowest <= HANG_AFTER, f"a call took {slowest:.1f}s (timeout {CALL_TIMEOUT}s)"
        assert failed or unsent, "no caller noticed the outage: the test did not test anything"
        assert not lost and not duplicated, f"lost {lost[:5]}, duplicated {duplicated[:5]}"
        assert ok_after and retried_ok == len(failed)

        # The relay published the events appended during the outage, and every consumer recorded every
        # event of its sources.
        published = set()

        def caught_up():
            published.update(published_ids(config, watched))
            if not set(appended) <= published:
                return None
            project_events = event_ids(data_dir, "project", "project")
            timesheet_events = event_ids(data_dir, "timesheet", "timesheet")
            assert set(appended) <= project_events
            for consumer in ("timesheet", "resource", "notification"):
                if not project_events <= event_ids(data_dir, consumer, f"{consumer}~project"):
                    return None
            for consumer in ("project", "resource", "notification"):
                if not timesheet_events <= event_ids(data_dir, consumer, f"{consumer}~timesheet"):
                    return None
            return True

        wait_until(caught_up, timeout=60, interval=0.5, message="the relays and consumers did not catch up")
        with ClusterRpcProxy(config, timeout=CALL_TIMEOUT, context_data=as_caller(config)) as rpc:  # and the project's read model counts it all
            progress = rpc.project.project_progress(project_id=project["id"], min_position=head_position(data_dir))
        assert progress["logged_hours"] == 0.25 * len(logged)
        with capsys.disabled():
            print(f"  after the restart: the {len(appended)} events appended during the outage published, every "
                  f"consumer caught up, project counts {progress['logged_hours']} h = {len(logged)} entries")
        exited = {name: p.exited() for name, p in processes.items() if p.exited() is not None}
        assert not exited, f"service processes exited after the restart: {exited}"
    finally:
        for c in callers:
            c.running = False
        for t in threads:
            t.join(timeout=HANG_AFTER + 5)
        for p in processes.values():
            p.stop()
