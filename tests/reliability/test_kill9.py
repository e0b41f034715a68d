"""Kill -9 under load: several callers send commands to project, timesheet and resource while random service
processes (all four, each a real `nameko run` process) are SIGKILLed and restarted. Then, once quiet:
- every acknowledged command's events are in its service's store, and no command's events are there twice;
- every consumer recorded every event of every source it follows;
- nothing was notified or delivered twice, and everything due went out: a real aiosmtpd server and a real
  webhook receiver registered for ``*`` count what arrived. No (event, recipient, kind) has two notifications, no
  notification came under two Message-IDs, no event came to the webhook under two delivery ids. The same
  Message-ID or delivery id arriving again (an attempt repeated because its sender was killed before recording
  it: the documented at-least-once send, deduplicated by the receiver) is counted and printed as a repeat;
- every read model equals a rebuild from its store.
It prints its figures (see docs/reliability.md)."""
from __future__ import annotations

import json
import mailbox
import os
import random
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from shared.catalog import CATEGORIES
from shared.kit import Chronicle
from shared.testing import ServiceProcess, as_caller, service_config, wait_until
from tests.e2e.helpers import dump_views, settled
from tests.notification.helpers import Receiver, SmtpServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVICES = ("resource", "project", "timesheet", "notification")
LOADED = ("project", "timesheet", "resource")
COMMANDS = int(os.environ.get("KILL9_COMMANDS", "2000"))  # in all, across the callers
LOAD_DEADLINE = 400.0  # seconds for the load phase: a bound, not a target
KILL_PAUSE = (2.0, 4.0)  # seconds between a restarted service answering and the next kill
RPC_TIMEOUT = 20.0
DECLARED = ("ValidationError", "NotFound", "Conflict", "RuleViolation", "Forbidden")
SECRET = "kill9-webhook-secret-0123456789"
CLASSES = {"resource": "ResourceService", "project": "ProjectService", "timesheet": "TimesheetService",
           "notification": "NotificationService"}


def answers(rpc, name):
    return getattr(rpc, name).events_since(position=0, limit=1) is not None


def wait_up(rpc, name, timeout=60):
    wait_until(lambda: answers(rpc, name), timeout=timeout, ignore=(UnknownService, RpcTimeout),
               message=f"{name} answering")


# -- reading the stores (SQLite files, read-only) ---------------------------------------------------
def connect(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def events_of(data_dir, service, categories=None):
    with connect(os.path.join(data_dir, f"{service}.events.db")) as db:
        sql = "SELECT id, stream, category, type, data, metadata, position FROM events"
        args = ()
        if categories:
            sql += f" WHERE category IN ({','.join('?' * len(categories))})"
            args = tuple(categories)
        rows = db.execute(sql + " ORDER BY position", args).fetchall()
    return [{"id": r[0], "stream": r[1], "category": r[2], "type": r[3], "data": json.loads(r[4]),
             "metadata": json.loads(r[5]), "position": r[6]} for r in rows]


def mirrored(consumer, source):
    return [f"{consumer}~{c}" for c in CATEGORIES[source]]


def consumers_of(source):
    return [s for s in SERVICES if source in service_class(s).chronicle.sources]


def service_class(name):
    module = __import__(f"services.{name}.service", fromlist=[CLASSES[name]])
    return getattr(module, CLASSES[name])


def offline_kit(name, config) -> Chronicle:
    """The service's kit opened on its files, outside any container (the services are stopped)."""
    attr = service_class(name).chronicle
    kit = Chronicle(categories=attr.categories, events=attr.registry, projections=attr.projection_factory,
                    sources=attr.sources, internal_categories=attr.internal_categories,
                    reactors=attr.reactor_factory)
    kit.open(name, config)
    return kit


# -- the load ----------------------------------------------------------------------------------------
class Caller(threading.Thread):
    """Sends its share of commands with its own proxy. A command that gets no answer (the service was killed,
    the reply lost) is sent again with the same command_id until it is answered: a retry returns the first
    result and appends nothing."""

    def __init__(self, number, config, plan, deadline):
        super().__init__(name=f"caller-{number}", daemon=True)
        self.number, self.config, self.plan, self.deadline = number, config, plan, deadline
        self.sent = 0  # calls made, retries included
        self.acknowledged = []  # (service, method, command_id, result)
        self.refused = []  # (service, method, command_id, error)
        self.unanswered = []
        self.error = None

    def run(self):
        proxy, rpc = None, None
        try:
            for service, method, kwargs in self.plan:
                while True:
                    if time.monotonic() > self.deadline:
                        self.unanswered.append((service, method, kwargs["command_id"]))
                        break
                    if rpc is None:
                        proxy = ClusterRpcProxy(self.config, timeout=RPC_TIMEOUT, context_data=as_caller(self.config))
                        rpc = proxy.start()
                    self.sent += 1
                    try:
                        result = getattr(getattr(rpc, service), method)(**kwargs)
                    except RemoteError as exc:
                        if exc.exc_type in DECLARED:
                            self.refused.append((service, method, kwargs["command_id"], f"{exc.exc_type}: {exc.value}"))
                            break
                        time.sleep(0.2)  # e.g. the service died mid-call: send it again
                        continue
                    except (RpcTimeout, UnknownService, OSError):
                        proxy.stop()  # a late reply must not be read as the next call's
                        proxy, rpc = None, None
                        continue
                    self.acknowledged.append((service, method, kwargs["command_id"], result))
                    break
        except Exception as exc:  # pragma: no cover - reported by the test
            self.error = exc
        finally:
            if proxy is not None:
                proxy.stop()


# Who calls what: each caller keeps to one service, so a caller of a service that is down waits while the
# others go on, as independent clients would.
CALLER_SERVICES = ("timesheet", "timesheet", "timesheet", "timesheet", "project", "project", "resource", "resource")


def plan_for(number, service, employee, project, count):
    """One caller's commands: hours on its own project (timesheet), tasks (project), or new people and bookings
    (resource; every fifth booking goes beyond the day's capacity: an overbooking that notifies and e-mails)."""
    plan = []
    for i in range(count):
        command_id = f"kill9-{number}-{i}"
        if service == "timesheet":
            day = date(2030, 1, 7) + timedelta(days=i // 8)  # 2 h a day at most
            plan.append(("timesheet", "log_time", {"employee_id": employee, "project_id": project,
                                                   "date": day.isoformat(), "hours": 0.25,
                                                   "command_id": command_id}))
        elif service == "project":
            plan.append(("project", "add_task", {"project_id": project, "name": f"Task {number}-{i}",
                                                 "command_id": command_id}))
        elif i % 2:
            plan.append(("resource", "register_resource", {"name": f"Person {number}-{i}",
                                                           "email": f"p{number}-{i}@kill9.example",
                                                           "command_id": command_id}))
        else:
            n = i // 2
            day = date(2031, 1, 6) + timedelta(days=7 * (n // 5) + n % 5)  # a weekday of its own
            plan.append(("resource", "book_resource", {
                "resource_id": employee, "project_id": project, "starts_on": day.isoformat(),
                "ends_on": day.isoformat(), "hours_per_day": 8 if n % 5 == 0 else 4, "command_id": command_id}))
    return plan


@pytest.mark.timeout(900)
def test_kill9_under_load_loses_nothing_and_does_nothing_twice(isolated_amqp_uri, tmp_path, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    smtp = SmtpServer(tmp_path / "maildir").start()
    receiver = Receiver().start()
    path = receiver.endpoint(SECRET)
    config = service_config(
        # A process killed with SIGKILL loses nothing SQLite's WAL has written, whatever the synchronous level
        # (that setting is about power loss), so the stores skip the fsync per commit here.
        isolated_amqp_uri, data_dir, SQLITE_SYNCHRONOUS="NORMAL", POLL_INTERVAL=0.2, CATCHUP_INTERVAL=1.0,
        SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_FROM="chronicle@kill9.example",
        DELIVERY_POLL_INTERVAL=0.2, WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_BACKOFF_SECONDS="0.5,1",
        WEBHOOK_MAX_ATTEMPTS=1000, EMAIL_BACKOFF_SECONDS="0.5,1", EMAIL_MAX_ATTEMPTS=1000, RETRY_JITTER=0.1,
        REMINDER_CHECK_SECONDS=3600)
    processes = {name: ServiceProcess(name, config, tmp_path) for name in SERVICES}
    figures = {}
    started = time.monotonic()
    try:
        for process in processes.values():
            process.start()
        with ClusterRpcProxy(config, timeout=RPC_TIMEOUT, context_data=as_caller(config)) as rpc:
            for name in SERVICES:
                wait_up(rpc, name)
            rpc.notification.register_webhook(url=receiver.url(path), event_types=["*"], secret=SECRET,
                                              command_id="kill9-hook")
            manager = rpc.resource.register_resource(name="Mona Manager", email="mona@kill9.example",
                                                     command_id="kill9-manager")
            staff = []
            for n in range(len(CALLER_SERVICES)):
                employee = rpc.resource.register_resource(name=f"Employee {n}", email=f"e{n}@kill9.example",
                                                          command_id=f"kill9-employee-{n}")
                project = rpc.project.create_project(name=f"Pier {n}", code=f"PIER-{n}", manager_id=manager["id"],
                                                     command_id=f"kill9-project-{n}")
                rpc.project.assign_member(project_id=project["id"], employee_id=employee["id"],
                                          command_id=f"kill9-member-{n}")
                staff.append((employee["id"], project["id"]))
            # The timesheet service knows every project and membership before the load.
            wait_until(lambda: sum(e["type"] == "MemberAssigned" for e in events_of(
                str(data_dir), "timesheet", mirrored("timesheet", "project"))) >= len(CALLER_SERVICES), timeout=60,
                message="timesheet knows the memberships")

        deadline = time.monotonic() + LOAD_DEADLINE
        per_caller = -(-COMMANDS // len(CALLER_SERVICES))
        callers = [Caller(n, config, plan_for(n, service, *staff[n], per_caller), deadline)
                   for n, service in enumerate(CALLER_SERVICES)]
        stop_killing = threading.Event()
        killer_errors = []

        def killer():
            chaos, order = random.Random(9), []
            with ClusterRpcProxy(config, timeout=RPC_TIMEOUT, context_data=as_caller(config)) as rpc:
                while not stop_killing.is_set():
                    if not order:  # rounds in a random order: every service is killed as often as the others
                        order = chaos.sample(SERVICES, len(SERVICES))
                    process = processes[order.pop()]
                    process.kill()
                    process.start()
                    try:
                        wait_up(rpc, process.name, timeout=90)
                    except AssertionError as exc:  # pragma: no cover - reported by the test
                        killer_errors.append(exc)
                        return
                    stop_killing.wait(chaos.uniform(*KILL_PAUSE))

        load_started = time.monotonic()
        chaos_thread = threading.Thread(target=killer, daemon=True)
        chaos_thread.start()
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(LOAD_DEADLINE + 60)
        stop_killing.set()
        chaos_thread.join(120)
        load_seconds = time.monotonic() - load_started
        assert not killer_errors, killer_errors
        assert all(c.error is None for c in callers), [c.error for c in callers]

        acknowledged = [a for c in callers for a in c.acknowledged]
        refused = [r for c in callers for r in c.refused]
        unanswered = [u for c in callers for u in c.unanswered]
        figures.update(commands=len(acknowledged) + len(refused) + len(unanswered),
                       calls_sent=sum(c.sent for c in callers), acknowledged=len(acknowledged), refused=len(refused),
                       unanswered=len(unanswered), kills=sum(p.kills for p in processes.values()),
                       kills_by_service={n: p.kills for n, p in processes.items()}, load_seconds=round(load_seconds, 1))

        # -- quiet: every service up, nothing more killed; wait until everything has arrived -----------
        with ClusterRpcProxy(config, timeout=RPC_TIMEOUT, context_data=as_caller(config)) as rpc:
            for name in SERVICES:
                wait_up(rpc, name)
        quiet_started = time.monotonic()

        def consumers_complete():
            missing = {}
            for source in LOADED:
                source_ids = {e["id"] for e in events_of(str(data_dir), source, CATEGORIES[source])}
                for consumer in consumers_of(source):
                    got = {e["id"] for e in events_of(str(data_dir), consumer, mirrored(consumer, source))}
                    if source_ids - got:
                        missing[f"{source}->{consumer}"] = len(source_ids - got)
            return missing

        wait_until(lambda: not consumers_complete(), timeout=120, interval=1.0,
                   message=f"every consumer has every event (missing: {consumers_complete()})")

        notification_categories = ["notification", *[f"notification~{c}" for s in LOADED for c in CATEGORIES[s]]]

        def deliveries_complete():
            events = events_of(str(data_dir), "notification")
            registered = next(e["position"] for e in events if e["type"] == "WebhookRegistered")
            due = {e["id"] for e in events if e["category"] in notification_categories and e["position"] > registered}
            received = {r["json"]["id"] for r in receiver.requests(path)}
            notes = {e["data"]["notification_id"] for e in events if e["type"] == "NotificationCreated"
                     and e["data"]["send_email"]}
            sent = {e["data"]["notification_id"] for e in events if e["type"] == "EmailAttempted"
                    and e["data"]["outcome"] == "sent"}
            return {"webhook_events_missing": len(due - received), "emails_unsent": len(notes - sent)}

        wait_until(lambda: not any(deliveries_complete().values()), timeout=180, interval=1.0,
                   message="every webhook delivery and e-mail went out")
        figures["quiet_seconds"] = round(time.monotonic() - quiet_started, 1)
    finally:
        for process in processes.values():
            process.stop()
        receiver.stop()
        smtp.stop()

    # -- every acknowledged command's events are in the store, none twice ------------------------------
    by_command = defaultdict(list)
    for service in LOADED:
        for event in events_of(str(data_dir), service, CATEGORIES[service]):
            command_id = event["metadata"].get("command_id")
            if command_id:
                by_command[(service, command_id)].append(event)
    lost = [(s, m, cid) for s, m, cid, _ in acknowledged if not by_command.get((s, cid))]
    duplicated = [key for key, events in by_command.items()
                  if key[1].startswith("kill9-") and max(Counter((e["stream"], e["type"]) for e in events).values()) > 1]
    wrong_position = [(s, m, cid) for s, m, cid, result in acknowledged
                    if isinstance(result, dict) and result.get("position") is not None
                    and result["position"] not in {e["position"] for e in by_command.get((s, cid), [])}]

    # -- no notification and no webhook delivery twice -----------------------------------------------------
    notification_events = events_of(str(data_dir), "notification")
    created = [e["data"] for e in notification_events if e["type"] == "NotificationCreated"]
    notified_twice = [k for k, n in Counter((d["source_event_id"], d["recipient_id"], d["kind"]) for d in created).items()
                      if n > 1]
    messages = list(mailbox.Maildir(str(tmp_path / "maildir"), create=False))
    message_ids = Counter(m["Message-ID"] for m in messages)
    ids_per_notification = defaultdict(set)
    for m in messages:
        ids_per_notification[m["X-Chronicle-Notification"]].add(m["Message-ID"])
    emailed_twice = [n for n, ids in ids_per_notification.items() if len(ids) > 1]
    never_emailed = {d["notification_id"] for d in created if d["send_email"]} - set(ids_per_notification)
    requests = receiver.requests(path)
    deliveries_per_event = defaultdict(set)
    for r in requests:
        deliveries_per_event[r["json"]["id"]].add(r["headers"]["X-Chronicle-Delivery"])
    delivered_twice = [e for e, ids in deliveries_per_event.items() if len(ids) > 1]
    figures.update(
        lost=len(lost), duplicated=len(duplicated) + len(notified_twice) + len(emailed_twice) + len(delivered_twice),
        notifications=len(created), emails_received=len(messages), emails_distinct=len(message_ids),
        email_repeats=len(messages) - len(message_ids), webhook_requests=len(requests),
        webhook_deliveries=len({r["headers"]["X-Chronicle-Delivery"] for r in requests}),
        unsigned=sum(not r["signed"] for r in requests))
    figures["webhook_repeats"] = figures["webhook_requests"] - figures["webhook_deliveries"]

    # -- every read model equals a rebuild -------------------------------------------------------------------
    rebuilt_equal = {}
    kit_config = service_config(isolated_amqp_uri, data_dir)
    for service in SERVICES:
        kit = offline_kit(service, kit_config)
        assert settled(kit), f"{service} was not settled when stopped"
        live = dump_views(kit)
        kit.runner.rebuild()
        rebuilt_equal[service] = dump_views(kit) == live and sum(len(rows) for rows in live.values()) > 0
    figures["rebuild_equal"] = rebuilt_equal
    figures["total_seconds"] = round(time.monotonic() - started, 1)
    with capsys.disabled():  # the figures show in `make test` too
        print("\nkill -9 under load:", json.dumps(figures, sort_keys=True))

    assert figures["commands"] >= 2000 or COMMANDS < 2000
    assert unanswered == [], f"{len(unanswered)} commands got no answer within {LOAD_DEADLINE}s"
    assert refused == [], refused[:5]
    assert lost == [] and wrong_position == [], (lost[:5], wrong_position[:5])
    assert duplicated == [], duplicated[:5]
    assert notified_twice == [] and emailed_twice == [] and delivered_twice == []
    assert never_emailed == set(), f"{len(never_emailed)} notifications never reached the SMTP server"
    assert figures["unsigned"] == 0
    assert all(processes[n].kills for n in SERVICES), figures["kills_by_service"]
    assert all(rebuilt_equal.values()), rebuilt_equal
