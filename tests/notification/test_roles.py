"""Who may call the notification service: every RPC x every role, as a table, against one real platform (the
notification service, fake sources, a real SMTP server and webhook receiver, real RabbitMQ). A refusal is
``Forbidden`` (or ``Unauthenticated``) with its code, and appends nothing."""
import contextlib
import inspect
from types import SimpleNamespace

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc
from nameko.standalone.rpc import ClusterRpcProxy

from services.notification.service import NotificationService
from shared.errors import Forbidden, NotFound, Unauthenticated
from shared.kit import Chronicle
from shared.testing import as_caller, rpc_proxy, running, service_config, wait_until
from tests.notification.helpers import FakeProject, FakeResource, FakeTimesheet, Receiver, SmtpServer, new_id

WEEK = "2026-W48"
NOW = "2027-03-01T10:00:00Z"  # the service's clock: WEEK is over
SECRET = "roles-secret-0123456789"

OK = "ok"
ROLE, NOT_OWN, MISSING = "auth.role", "auth.not_own", "auth.missing"

# The callers, in the table's column order. Ann is an employee on Mona's project; the data called about is Ann's.
CALLERS = ("admin", "project manager", "other manager", "employee themself", "other employee", "service",
           "no token")

TABLE = {
    # rpc                  admin  project   other     employee  other     service  no token
    #                             manager   manager   themself  employee
    "inbox":              (OK,    NOT_OWN,  NOT_OWN,  OK,       NOT_OWN,  ROLE,    MISSING),
    "mark_read":          (OK,    NOT_OWN,  NOT_OWN,  OK,       NOT_OWN,  ROLE,    MISSING),
    "notification":       (OK,    NOT_OWN,  NOT_OWN,  OK,       NOT_OWN,  ROLE,    MISSING),
    "get_preferences":    (OK,    NOT_OWN,  NOT_OWN,  OK,       NOT_OWN,  ROLE,    MISSING),
    "set_preferences":    (OK,    NOT_OWN,  NOT_OWN,  OK,       NOT_OWN,  ROLE,    MISSING),
    "notifications_for":  (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "person":             (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "reminder_rounds":    (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "followup_checks":    (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "send_reminders":     (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "register_webhook":   (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "list_webhooks":      (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "remove_webhook":     (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "deliveries":         (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "redeliver":          (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "resend_email":       (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "dead_deliveries":    (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "resend_delivery":    (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "resend_dead":        (OK,    ROLE,     ROLE,     ROLE,     ROLE,     ROLE,    MISSING),
    "events_since":       (OK,    ROLE,     ROLE,     ROLE,     ROLE,     OK,      MISSING),
    "status":             (OK,    ROLE,     ROLE,     ROLE,     ROLE,     OK,      MISSING),
}

# The arguments of each RPC: Ann's data, and things that exist (so that an allowed call succeeds).
ARGUMENTS = {
    "inbox": lambda s: {"user_id": s.ann.id},
    "mark_read": lambda s: {"user_id": s.ann.id, "notification_id": s.note},
    "notification": lambda s: {"notification_id": s.note},
    "get_preferences": lambda s: {"user_id": s.ann.id},
    "set_preferences": lambda s: {"user_id": s.ann.id},
    "notifications_for": lambda s: {"source_event_id": s.assigned},
    "person": lambda s: {"person_id": s.ann.id},
    "reminder_rounds": lambda s: {"week": WEEK},
    "followup_checks": lambda s: {"week": WEEK},
    "send_reminders": lambda s: {"week": WEEK},
    "register_webhook": lambda s: {"url": s.receiver.url(s.everything), "event_types": ["*"]},
    "list_webhooks": lambda s: {},
    "remove_webhook": lambda s: {"webhook_id": s.spare_hook},
    "deliveries": lambda s: {"webhook_id": s.hook},
    "redeliver": lambda s: {"delivery_id": s.deliveries[0]},
    "resend_email": lambda s: {"notification_id": s.note},
    "dead_deliveries": lambda s: {},
    "resend_delivery": lambda s: {"delivery_id": s.deliveries[1]},
    "resend_dead": lambda s: {},
    "events_since": lambda s: {},
    "status": lambda s: {},
}

RPCS = sorted(name for name, fn in inspect.getmembers(NotificationService)
              if any(isinstance(e, Rpc) for e in getattr(fn, ENTRYPOINT_EXTENSIONS_ATTR, ())))


def person(admin, name):
    rid = new_id()
    admin.resource.emit(stream=f"resource-{rid}", type="ResourceRegistered", data={
        "resource_id": rid, "name": name, "email": f"{name.lower()}.{rid[:6]}@example.com",
        "weekly_capacity_hours": 40, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
    return SimpleNamespace(id=rid, name=name)


def log_time(admin, employee):
    return admin.timesheet.emit(stream=f"timesheet-{employee.id}_{WEEK.replace('-', '')}", type="TimeLogged", data={
        "employee_id": employee.id, "week": WEEK, "entry_id": new_id(), "project_id": new_id(), "task_id": None,
        "date": "2026-11-24", "hours": 2, "billable": True, "description": "work"})


def delivered(admin, webhook_id, event_id):
    return wait_until(lambda: [d["id"] for d in admin.notification.deliveries(webhook_id=webhook_id)
                               if d["event_id"] == event_id and d["status"] == "delivered"],
                      timeout=15, message=f"event {event_id} delivered")


@pytest.fixture(scope="module")
def platform(amqp_uri, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notification-roles")
    smtp, receiver = SmtpServer(tmp / "maildir").start(), Receiver().start()
    config = service_config(
        amqp_uri, tmp / "data", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_FROM="chronicle@example.com",
        DELIVERY_POLL_INTERVAL=0.1, RETRY_JITTER=0.1, WEBHOOK_ALLOW_PRIVATE="true", REMINDER_CHECK_SECONDS=3600,
        REMINDER_FIXED_NOW=NOW)
    try:
        with running(config, FakeProject, FakeTimesheet, FakeResource, NotificationService) as runner, \
                contextlib.ExitStack() as proxies:
            admin = proxies.enter_context(rpc_proxy(config))
            mona, max_, ann, bob = (person(admin, n) for n in ("Mona", "Max", "Ann", "Bob"))
            wait_until(lambda: admin.notification.person(person_id=bob.id), timeout=15, ignore=(NotFound,))
            project_id = new_id()
            admin.project.emit(stream=f"project-{project_id}", type="ProjectCreated", data={
                "project_id": project_id, "name": "Roles", "code": "ROLES", "manager_id": mona.id,
                "customer": "ACME", "starts_on": "2026-01-01", "ends_on": None, "billable": True,
                "budget_hours": 100, "budget_amount": "100000.00", "currency": "NOK", "hourly_rate": "1000.00"})
            assigned = admin.project.emit(stream=f"project-{project_id}", type="MemberAssigned", data={
                "project_id": project_id, "project_code": "ROLES", "project_name": "Roles", "employee_id": ann.id,
                "role": "Engineer", "hourly_rate": None})
            (note,) = wait_until(lambda: admin.notification.notifications_for(source_event_id=assigned["id"]))
            wait_until(lambda: admin.notification.notification(notification_id=note["id"])["email"]["status"]
                       == "sent", timeout=15, message="Ann's e-mail sent")

            hook = admin.notification.register_webhook(
                url=receiver.url(receiver.endpoint(SECRET)), event_types=["TimeLogged"], secret=SECRET)
            spare = admin.notification.register_webhook(
                url=receiver.url(receiver.endpoint(SECRET)), event_types=["Nothing"], secret=SECRET)
            deliveries = [delivered(admin, hook["id"], log_time(admin, ann)["id"])[0] for _ in range(2)]

            tokens = {
                "admin": as_caller(config),
                "project manager": as_caller(config, mona.id, "manager"),
                "other manager": as_caller(config, max_.id, "manager"),
                "employee themself": as_caller(config, ann.id, "employee"),
                "other employee": as_caller(config, bob.id, "employee"),
                "service": as_caller(config, "timesheet", "service"),
                "no token": {},
            }
            callers = {who: proxies.enter_context(ClusterRpcProxy(config, timeout=30, context_data=context))
                       for who, context in tokens.items()}
            store = next(d for c in runner.containers if c.service_name == "notification"
                         for d in c.dependencies if isinstance(d, Chronicle)).store
            yield SimpleNamespace(
                config=config, admin=admin, callers=callers, store=store, receiver=receiver, smtp=smtp,
                mona=mona, max=max_, ann=ann, bob=bob, note=note["id"], assigned=assigned["id"], hook=hook["id"],
                spare_hook=spare["id"], deliveries=deliveries, everything=receiver.endpoint(SECRET))
    finally:
        receiver.stop()
        smtp.stop()


def appended_by(platform, rpc, after):
    """The events the RPC ``rpc`` appended after ``after`` (the kit records the command with each event)."""
    return [e for e in platform.store.read_all(after, None, limit=10000) if e.metadata.get("command") == rpc]


def outcome(call):
    try:
        call()
    except (Forbidden, Unauthenticated) as exc:
        return exc.code
    return OK


def test_the_table_names_every_rpc():
    assert sorted(TABLE) == RPCS == sorted(ARGUMENTS)


@pytest.mark.parametrize("rpc,caller,expected", [
    (rpc, caller, row[i]) for rpc, row in TABLE.items() for i, caller in enumerate(CALLERS)])
def test_who_may_call_what(platform, rpc, caller, expected):
    before = platform.store.head_position()
    got = outcome(lambda: getattr(platform.callers[caller].notification, rpc)(**ARGUMENTS[rpc](platform)))
    assert got == expected
    if expected != OK:
        assert appended_by(platform, rpc, before) == []


def test_one_persons_token_on_another_persons_data_is_refused(platform):
    bob, mona = platform.callers["other employee"].notification, platform.callers["project manager"].notification
    ann = platform.ann.id
    before = platform.store.head_position()
    refusals = {
        "Bob reads Ann's inbox": lambda: bob.inbox(user_id=ann),
        "Bob reads Ann's notification": lambda: bob.notification(notification_id=platform.note),
        "Bob marks Ann's notification read as himself": lambda: bob.mark_read(
            user_id=platform.bob.id, notification_id=platform.note),
        "Bob mutes Ann's e-mails": lambda: bob.set_preferences(user_id=ann, email=False),
        "Ann's manager reads her inbox": lambda: mona.inbox(user_id=ann),
        "Ann's manager turns off her e-mails": lambda: mona.set_preferences(user_id=ann, email=False),
    }
    assert {what: outcome(call) for what, call in refusals.items()} == {what: NOT_OWN for what in refusals}
    assert [e for e in platform.store.read_all(before, None, limit=10000) if e.metadata.get("command")] == []
    assert platform.admin.notification.get_preferences(user_id=ann)["email"] is True


def test_a_persons_own_acts_are_recorded_as_theirs(platform):
    ann = platform.callers["employee themself"].notification
    out = ann.set_preferences(user_id=platform.ann.id, muted_kinds=["budget_threshold"])
    assert ann.get_preferences(user_id=platform.ann.id, min_position=out["position"])["muted_kinds"] == [
        "budget_threshold"]
    (event,) = [e for e in platform.store.read_all(out["position"] - 1, None, limit=10) if e.type == "PreferencesSet"]
    assert (event.metadata["actor"], event.metadata["actor_role"]) == (platform.ann.id, "employee")
    assert [n["id"] for n in ann.inbox(user_id=platform.ann.id)] == [platform.note]
    assert ann.notification(notification_id=platform.note)["recipient_id"] == platform.ann.id


@pytest.mark.parametrize("who", ["employee themself", "project manager"])
def test_nobody_but_an_admin_registers_a_webhook_for_everything(platform, who):
    path = platform.receiver.endpoint(SECRET)
    before = platform.store.head_position()
    with pytest.raises(Forbidden) as refused:
        platform.callers[who].notification.register_webhook(
            url=platform.receiver.url(path), event_types=["*"], secret=SECRET)
    assert refused.value.code == ROLE
    assert platform.store.read_all(before, ["webhook"]) == []
    assert platform.receiver.url(path) not in [w["url"] for w in platform.admin.notification.list_webhooks()]
    # An event every "*" webhook would get: it reaches the admin's webhook, never the refused one.
    delivered(platform.admin, platform.hook, log_time(platform.admin, platform.ann)["id"])
    assert platform.receiver.requests(path) == []
