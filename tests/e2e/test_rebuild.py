"""Bad events in the store and rebuilds, on the real services against the real broker, with the `chronicle`
command run as its own process the way an operator runs it:
- a malformed event wedges no read model, and `chronicle parked` lists and retries it;
- `chronicle rebuild` while the service runs and takes commands never shows a partial read model, and ends
  equal to a fresh replay;
- deleting the views of a stopped notification service resends no e-mail or webhook and republishes nothing.
"""
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import pytest
from kombu import Connection, Queue
from nameko.standalone.events import get_event_exchange

from services.notification.courier import Courier
from services.notification.service import NotificationService
from services.timesheet.service import TimesheetService
from shared.config import eventstore_uri, views_path
from shared.errors import RuleViolation
from shared.eventstore import ANY, NewEvent, open_store
from shared.eventstore.base import now_utc
from shared.projections import ProjectionRunner, ViewStore
from shared.testing import fake_source, rpc_proxy, running, service_config, wait_until
from tests.e2e.helpers import chronicle_of, dump_views, settled
from tests.notification.helpers import Receiver, SmtpServer

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FakeProject = fake_source("project")
FakeResource = fake_source("resource")
TUESDAY = "2026-03-03"


def new_id():
    return str(uuid.uuid4())


def chronicle_cli(config, *args, timeout=120):
    """`chronicle ...` in its own process, on the service's data; green-friendly while services run here."""
    env = dict(os.environ, CHRONICLE_DATA_DIR=str(config["CHRONICLE_DATA_DIR"]), PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: proc.poll() is not None, timeout=timeout, interval=0.05, message=f"chronicle {args}")
    out, err = proc.communicate()
    return proc.returncode, out, err


def staffed_project(rpc, employee):
    project = new_id()
    rpc.project.emit(stream=f"project-{project}", type="ProjectCreated", data={
        "project_id": project, "name": "Quay", "code": f"Q-{project[:6]}", "manager_id": new_id(),
        "customer": "Acme", "starts_on": None, "ends_on": None, "billable": True, "budget_hours": None,
        "budget_amount": None, "currency": "NOK", "hourly_rate": None})
    rpc.project.emit(stream=f"project-{project}", type="MemberAssigned", data={
        "project_id": project, "project_code": "Q", "project_name": "Quay", "employee_id": employee,
        "role": "consultant", "hourly_rate": None})
    return project


def fresh_replay(kit, path) -> dict:
    """The read models replayed from scratch into their own file by the service's own projections."""
    views = ViewStore(str(path))
    try:
        ProjectionRunner(kit.store, views, kit.projection_factory(), categories=kit.runner.categories,
                         registry=kit.registry).run_once()
        return dump_views(type("Kit", (), {"views": views})())
    finally:
        views.close()


def test_a_malformed_event_in_the_store_is_parked_and_wedges_nothing(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, POLL_INTERVAL=0.05)
    with running(config, TimesheetService, FakeProject) as runner, rpc_proxy(config) as rpc:
        employee = new_id()
        before = staffed_project(rpc, employee)
        rpc.timesheet.log_time(employee_id=employee, project_id=before, date=TUESDAY, hours=1)
        # The event: a MemberAssigned with data {} recorded in timesheet's store (however it got there).
        kit = chronicle_of(runner, "timesheet")
        kit.store.append(f"timesheet~project-{new_id()}", [NewEvent("MemberAssigned", {})], ANY)
        kit.wake_views.set()
        wait_until(lambda: kit.state.parked("projection"), timeout=20, message="the malformed event parked")
        # Every project created after it is known (it used to be timesheet.project_unknown for good).
        after = staffed_project(rpc, employee)
        assert rpc.timesheet.log_time(employee_id=employee, project_id=after, date=TUESDAY, hours=2)["hours"] == 2

        code, out, err = chronicle_cli(config, "parked", "list", "timesheet", "--json")
        assert code == 0, err
        [parked] = json.loads(out)
        assert (parked["kind"], parked["name"], parked["event_type"], parked["reason"]) == (
            "projection", "timesheet_projects", "MemberAssigned", "handler_failed")
        assert "KeyError" in parked["error"] and parked["envelope"]["data"] == {}
        code, out, err = chronicle_cli(config, "parked", "list", "timesheet")
        assert code == 0 and "MemberAssigned" in out and "timesheet_projects" in out

        # A retry while the service runs: it is tried again by the service, still fails, stays parked.
        code, out, err = chronicle_cli(config, "parked", "retry", "timesheet", "--id", str(parked["id"]),
                                       "--wait", "20", "--json")
        assert code == 1, (out, err)
        [retried] = json.loads(out)["entries"]
        assert retried["attempts"] == parked["attempts"] + 1 and not retried["retry_requested"]
        assert retried["resolved_at"] is None and "KeyError" in retried["error"]

        # A rebuild meets the same event: it is parked again, the rest is swapped in, nothing is refused.
        code, out, err = chronicle_cli(config, "rebuild", "timesheet")
        assert code == 0 and "timesheet: rebuilt" in out and "1 parked projection event" in out, (out, err)
        for project in (before, after):
            assert rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUESDAY, hours=1)
        [again] = kit.state.parked("projection")
        assert again["id"] == parked["id"] and again["attempts"] > retried["attempts"]
        assert chronicle_cli(config, "parked", "retry", "timesheet", "--id", "999")[0] == 1  # no such entry


def test_rebuild_while_the_service_runs_and_takes_commands_never_shows_a_partial_read_model(
        isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, POLL_INTERVAL=0.05)
    # A store with some history: 3,000 projects recorded from the project service.
    seed = open_store(eventstore_uri("timesheet", config).split("?")[0] + "?synchronous=OFF")
    known = 3000
    for _ in range(known):
        project = new_id()
        seed.append(f"timesheet~project-{project}", [NewEvent("ProjectCreated", {
            "project_id": project, "name": "Old", "code": f"O-{project[:6]}", "manager_id": new_id(),
            "customer": "", "starts_on": None, "ends_on": None, "billable": True, "budget_hours": None,
            "budget_amount": None, "currency": "NOK", "hourly_rate": None})], ANY)
    seed.close()
    with running(config, TimesheetService, FakeProject) as runner, rpc_proxy(config) as rpc:
        kit = chronicle_of(runner, "timesheet")
        employee = new_id()
        project = staffed_project(rpc, employee)
        rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUESDAY, hours=0.25)
        wait_until(lambda: settled(kit), timeout=30)

        # Readers in another connection, and commands, all the time the rebuild runs.
        stop, seen, logged, errors = threading.Event(), [], [], []

        def read():
            conn = sqlite3.connect(views_path("timesheet", config), timeout=5)
            try:
                while not stop.is_set():
                    seen.append(conn.execute("SELECT COUNT(*) FROM ts_projects").fetchone()[0])
                    time.sleep(0.001)  # a green thread here: let the services and the command run
            finally:
                conn.close()

        def command():
            while not stop.is_set():
                try:
                    rpc.timesheet.log_time(employee_id=employee, project_id=project, date=TUESDAY, hours=0.25)
                    logged.append(1)
                except RuleViolation as exc:  # 24 h on the day: the week is full, the rest is refused
                    errors.append(exc.code)
                    return

        threads = [threading.Thread(target=read), threading.Thread(target=command)]
        for thread in threads:
            thread.start()
        try:
            code, out, err = chronicle_cli(config, "replay", "timesheet")
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert code == 0 and "timesheet: rebuilt" in out, (out, err)
        assert "position" in err and "events applied" in err  # the progress bar
        assert logged and errors in ([], ["timesheet.day_over_24h"]), errors  # commands were served throughout
        assert seen and min(seen) >= known + 1  # never an empty or partial read model
        wait_until(lambda: settled(kit), timeout=30)
        assert dump_views(kit) == fresh_replay(kit, tmp_path / "fresh.views.db")
        week = rpc.timesheet.get_timesheet(employee_id=employee, week="2026-W10")
        assert week["total_hours"] == 0.25 * (1 + len(logged))


class Published:
    """A queue bound to every event a service's relay publishes."""

    def __init__(self, config, service):
        self.connection = Connection(config["AMQP_URI"])
        self.queue = Queue(f"test-published-{uuid.uuid4().hex[:8]}", exchange=get_event_exchange(service, {}),
                           routing_key="#", durable=False)
        self.queue(self.connection.default_channel).declare()

    def count(self):
        return self.queue(self.connection.default_channel).queue_declare(passive=True).message_count

    def close(self):
        self.connection.release()


def test_deleting_the_views_of_a_stopped_notification_service_resends_nothing(isolated_amqp_uri, tmp_path):
    smtp = SmtpServer(tmp_path / "maildir").start()
    receiver = Receiver().start()
    hook_path = receiver.endpoint("views-secret-0123456789")
    config = service_config(isolated_amqp_uri, tmp_path / "data", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port,
                            SMTP_FROM="chronicle@example.com", WEBHOOK_ALLOW_PRIVATE="true",
                            DELIVERY_POLL_INTERVAL=0.1, REMINDER_CHECK_SECONDS=3600,
                            REMINDER_FIXED_NOW="2027-03-01T10:00:00Z")
    published = Published(config, "notification")
    try:
        with running(config, FakeProject, FakeResource), rpc_proxy(config) as rpc:
            boss, ann = new_id(), new_id()

            def views_settled(runner):
                kit = chronicle_of(runner, "notification")
                own = len(kit.store.read_all(0, kit.categories, limit=100_000))
                return settled(kit) and kit.relay.position() >= kit.store.head_position(kit.categories) and \
                    published.count() == own

            with running(config, NotificationService) as runner:
                hook = rpc.notification.register_webhook(url=receiver.url(hook_path), event_types=["MemberAssigned"],
                                                         secret="views-secret-0123456789")
                for rid, name in ((boss, "Boss"), (ann, "Ann")):
                    rpc.resource.emit(stream=f"resource-{rid}", type="ResourceRegistered", data={
                        "resource_id": rid, "name": name, "email": f"{name.lower()}@views.example",
                        "weekly_capacity_hours": 40, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": ""})
                wait_until(lambda: rpc.notification.person(person_id=ann), timeout=20, ignore=(Exception,))
                project = staffed_project_for(rpc, boss, ann)
                wait_until(lambda: len(smtp.messages_to("ann@views.example")) == 1, timeout=30, message="the e-mail")
                wait_until(lambda: [d["status"] for d in rpc.notification.deliveries(webhook_id=hook["id"])]
                           == ["delivered"], timeout=30, message="the webhook delivery")
                [note] = rpc.notification.inbox(user_id=ann)
                wait_until(lambda: rpc.notification.notification(notification_id=note["id"])["email"]["status"]
                           == "sent", timeout=20)
                wait_until(lambda: views_settled(runner), timeout=30, message="notification settled")
                inbox = rpc.notification.inbox(user_id=ann)
                deliveries = rpc.notification.deliveries(webhook_id=hook["id"])
                mails, hooks, messages = len(smtp.messages()), len(receiver.requests(hook_path)), published.count()
                assert (mails, hooks) == (1, 1) and project

            # The read models are thrown away while the service is stopped.
            views = views_path("notification", config)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(views + suffix):
                    os.remove(views + suffix)

            with running(config, NotificationService) as runner:
                kit = chronicle_of(runner, "notification")
                wait_until(lambda: rpc.notification.inbox(user_id=ann) == inbox, timeout=30,
                           message="the inbox rebuilt")  # the read models came back...
                assert rpc.notification.deliveries(webhook_id=hook["id"]) == deliveries
                wait_until(lambda: views_settled(runner), timeout=30, message="notification settled again")
                courier = next(d for c in runner.containers for d in c.dependencies if isinstance(d, Courier))
                assert courier.run_once(now_utc()) == 0  # ...nothing is due to be sent again...
                assert len(smtp.messages()) == mails and len(receiver.requests(hook_path)) == hooks  # ...or sent
                assert published.count() == messages  # and the relay republished nothing
                assert kit.views.path == views and os.path.exists(views)
    finally:
        published.close()
        receiver.stop()
        smtp.stop()


def staffed_project_for(rpc, manager, employee):
    project = new_id()
    rpc.project.emit(stream=f"project-{project}", type="ProjectCreated", data={
        "project_id": project, "name": "Views", "code": "VIEWS", "manager_id": manager, "customer": "Acme",
        "starts_on": "2026-01-01", "ends_on": None, "billable": True, "budget_hours": 100,
        "budget_amount": "100000.00", "currency": "NOK", "hourly_rate": "1000.00"})
    rpc.project.emit(stream=f"project-{project}", type="MemberAssigned", data={
        "project_id": project, "project_code": "VIEWS", "project_name": "Views", "employee_id": employee,
        "role": "Engineer", "hourly_rate": "1000.00"})
    return project
