"""The notification service in a real nameko container against the real RabbitMQ, fed by fake
project/timesheet/resource services (real kit services), with a real SMTP server (aiosmtpd) and a
real HTTP webhook receiver. One container for the whole module."""
import inspect
import json
from types import SimpleNamespace

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc

from services.notification import targets
from services.notification.domain import KINDS
from services.notification.reactors import Notifier
from services.notification.service import NotificationService
from shared.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationError
from shared.testing import dispatch, rpc_proxy, running, service_config, sign, wait_until
from tests.notification.helpers import FakeProject, FakeResource, FakeTimesheet, Receiver, SmtpServer, new_id

WEEK = "2026-W48"
# The module's clock (reminders, "today"): Monday 2027-03-01, in 2027-W09, after everyone here registered.
NOW = "2027-03-01T10:00:00Z"


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notification")
    smtp = SmtpServer(tmp / "maildir").start()
    receiver = Receiver().start()
    config = service_config(
        amqp_uri, tmp / "data",
        SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_FROM="chronicle@example.com",
        LINK_PATTERN="https://chronicle.test/{kind}?week={week}&project={project_id}",
        DELIVERY_POLL_INTERVAL=0.1, WEBHOOK_BACKOFF_SECONDS="0.2,0.4", WEBHOOK_MAX_ATTEMPTS=4,
        EMAIL_BACKOFF_SECONDS="0.3", EMAIL_MAX_ATTEMPTS=30, RETRY_JITTER=0.1, WEBHOOK_ALLOW_PRIVATE="true",
        REMINDER_CHECK_SECONDS=3600,  # the timer has its own module: it reminds everyone it knows
        REMINDER_FIXED_NOW=NOW,
    )
    real_lookup = targets.lookup
    try:
        with pytest.MonkeyPatch.context() as patch, \
                running(config, FakeProject, FakeTimesheet, FakeResource, NotificationService), \
                rpc_proxy(config) as rpc:
            # The example hosts resolve (to a closed port here): an unresolvable host is refused at registration.
            patch.setattr(targets, "lookup", lambda host: ["127.0.0.1"] if host.endswith("example.com")
                          else real_lookup(host))
            yield SimpleNamespace(config=config, rpc=rpc, smtp=smtp, receiver=receiver)
    finally:
        receiver.stop()
        smtp.stop()


# -- feeding facts ------------------------------------------------------------------------------------
def person(env, name, capacity=40, email=True, working_days=(1, 2, 3, 4, 5)):
    rid = new_id()
    address = f"{name.lower()}.{rid[:6]}@example.com" if email else None
    env.rpc.resource.emit(stream=f"resource-{rid}", type="ResourceRegistered", data={
        "resource_id": rid, "name": name, "email": address, "weekly_capacity_hours": capacity, "skills": [],
        "working_days": list(working_days), "title": "Consultant"})
    wait_until(lambda: _known(env, rid), message=f"{name} known to notification")
    return SimpleNamespace(id=rid, name=name, email=address)


def _known(env, person_id):
    try:
        return env.rpc.notification.person(person_id=person_id)
    except NotFound:
        return None


def project(env, manager, name="Harbour Bridge", code=None):
    pid = new_id()
    code = code or f"P{pid[:4].upper()}"
    env.rpc.project.emit(stream=f"project-{pid}", type="ProjectCreated", data={
        "project_id": pid, "name": name, "code": code, "manager_id": manager.id, "customer": "ACME",
        "starts_on": "2026-01-01", "ends_on": None, "billable": True, "budget_hours": 100,
        "budget_amount": "100000.00", "currency": "NOK", "hourly_rate": "1000.00"})
    return SimpleNamespace(id=pid, name=name, code=code, manager=manager)


def timesheet(env, employee, type, data, week=WEEK):
    return env.rpc.timesheet.emit(stream=f"timesheet-{employee.id}_{week.replace('-', '')}", type=type,
                                  data={"employee_id": employee.id, "week": week, **data})


def told(env, source_event, count=1):
    return wait_until(lambda: len(n := env.rpc.notification.notifications_for(source_event_id=source_event["id"]))
                      == count and n, message=f"{count} notification(s) for {source_event['type']}")


def mail_to(env, address, count=1):
    return wait_until(lambda: len(m := env.smtp.messages_to(address)) == count and m, timeout=15,
                      message=f"{count} e-mail(s) to {address}")


# -- who is told what ---------------------------------------------------------------------------------
def test_member_assigned_tells_the_employee_in_the_inbox_and_by_email(env):
    boss, ann = person(env, "Boss"), person(env, "Ann")
    p = project(env, boss)
    source = env.rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
        "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": ann.id,
        "role": "Engineer", "hourly_rate": "1000.00"})
    (note,) = told(env, source)
    assert note["recipient_id"] == ann.id and note["kind"] == "member_assigned"

    (inbox,) = env.rpc.notification.inbox(user_id=ann.id)
    assert inbox["title"] == f"You were added to project {p.name} ({p.code})"
    assert inbox["read"] is False and inbox["source_event_id"] == source["id"]
    assert set(inbox) == {"id", "kind", "title", "body", "created_at", "read", "source_event_id"}

    (message,) = mail_to(env, ann.email)
    assert message["Subject"] == inbox["title"] and message["From"] == "chronicle@example.com"
    text = message.get_payload(decode=True).decode()
    assert "Role: Engineer" in text and p.code in text
    assert f"https://chronicle.test/member_assigned?week=&project={p.id}" in text
    state = wait_until(lambda: (s := env.rpc.notification.notification(notification_id=note["id"]))["email"]
                       ["status"] == "sent" and s)
    assert [a["attempt"] for a in state["email"]["attempts"]] == [1]


def test_submitted_timesheet_tells_the_manager_of_each_project_with_hours(env):
    m1, m2, emp = person(env, "Mona"), person(env, "Max"), person(env, "Eve")
    p1, p2 = project(env, m1, "Alpha"), project(env, m2, "Beta")
    source = timesheet(env, emp, "TimesheetSubmitted", {"total_hours": 30.5, "projects": [
        {"project_id": p1.id, "hours": 22.5, "billable_hours": 22.5, "manager_id": m1.id},
        {"project_id": p2.id, "hours": 8, "billable_hours": 0, "manager_id": m2.id}]})
    notes = told(env, source, 2)
    assert {n["recipient_id"] for n in notes} == {m1.id, m2.id}
    (message,) = mail_to(env, m1.email)
    assert message["Subject"] == f"Eve submitted the timesheet for {WEEK}"
    body = message.get_payload(decode=True).decode()
    assert f"Alpha ({p1.code}): 22.5 h" in body and "Beta" not in body and WEEK in body


def test_approved_and_rejected_tell_the_employee_with_the_reason(env):
    boss, emp = person(env, "Bea"), person(env, "Ivan")
    p = project(env, boss, "Gamma")
    approved = timesheet(env, emp, "TimesheetApproved", {"approver_id": boss.id, "project_ids": [p.id],
                                                         "status": "approved", "lines": [
                                                             {"project_id": p.id, "hours": 37.5,
                                                              "billable_hours": 30}]})
    rejected = timesheet(env, emp, "TimesheetRejected", {"approver_id": boss.id, "project_ids": [p.id],
                                                         "reason": "Friday is missing",
                                                         "lines": [{"project_id": p.id, "hours": 30}]},
                         week="2026-W47")
    (a,) = told(env, approved)
    (r,) = told(env, rejected)
    assert a["recipient_id"] == r["recipient_id"] == emp.id
    assert a["title"] == f"Your timesheet for {WEEK} was approved" and "37.5 h" in a["body"]
    assert "Reason: Friday is missing" in r["body"] and "by Bea" in r["body"]
    messages = mail_to(env, emp.email, 2)
    assert any("Reason: Friday is missing" in m.get_payload(decode=True).decode() for m in messages)


def test_budget_threshold_tells_the_manager_naming_the_threshold(env):
    boss = person(env, "Bob")
    p = project(env, boss, "Delta")
    source = env.rpc.project.emit(stream=f"project-{p.id}", type="BudgetThresholdReached", data={
        "project_id": p.id, "project_code": p.code, "manager_id": boss.id, "threshold": 80, "used_hours": 80.25,
        "budget_hours": 100})
    (note,) = told(env, source)
    assert note["recipient_id"] == boss.id
    assert note["title"] == f"Project Delta ({p.code}) reached 80% of its budget"
    assert "80.25 of 100 h" in note["body"]


def test_a_money_budget_threshold_tells_the_manager_the_amounts(env):
    boss = person(env, "Bea")
    p = project(env, boss, "Money")
    source = env.rpc.project.emit(stream=f"project-{p.id}", type="BudgetThresholdReached", data={
        "project_id": p.id, "project_code": p.code, "manager_id": boss.id, "threshold": 50, "budget": "money",
        "used_hours": None, "budget_hours": None, "used_amount": "5000.00", "budget_amount": "10000.00"})
    (note,) = told(env, source)
    assert note["title"] == f"Project Money ({p.code}) reached 50% of its money budget"
    assert "Amount used: 5000.00 of 10000.00" in note["body"]


def test_overbooking_tells_the_resource_and_the_managers_of_the_projects_booked(env):
    m1, m2, res = person(env, "Mia"), person(env, "Mo"), person(env, "Rae")
    p1, p2 = project(env, m1, "East"), project(env, m2, "West")
    source = env.rpc.resource.emit(stream=f"resource-{res.id}", type="ResourceOverbooked", data={
        "resource_id": res.id, "excess_hours": 4, "days": [
            {"date": "2026-11-23", "capacity_hours": 8, "absence_hours": 0, "booked_hours": 12,
             "excess_hours": 4, "project_ids": [p1.id, p2.id]}], "trigger": {"kind": "booking", "id": None}})
    notes = told(env, source, 3)
    assert {n["recipient_id"] for n in notes} == {res.id, m1.id, m2.id}
    to_manager = next(n for n in notes if n["recipient_id"] == m1.id)
    assert to_manager["title"] == "Rae is overbooked" and "2026-11-23: 12 h booked" in to_manager["body"]


def test_a_duplicate_source_event_notifies_once(env):
    boss, ann = person(env, "Dup"), person(env, "Dee")
    p = project(env, boss)
    source = env.rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
        "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": ann.id,
        "role": "Engineer", "hourly_rate": None})
    told(env, source)
    dispatch(env.config, "project", "MemberAssigned", sign(env.config, source))  # again over AMQP, as its relay did
    marker = env.rpc.project.emit(stream=f"project-{p.id}", type="BudgetThresholdReached", data={
        "project_id": p.id, "project_code": p.code, "manager_id": ann.id, "threshold": 50, "used_hours": 50,
        "budget_hours": 100})
    told(env, marker)
    assert len(env.rpc.notification.notifications_for(source_event_id=source["id"])) == 1
    assert len(mail_to(env, ann.email, 2)) == 2  # one per source event


# -- inbox and preferences ------------------------------------------------------------------------
def test_inbox_mark_read_and_its_errors(env):
    boss, ann = person(env, "Ola"), person(env, "Una")
    p = project(env, boss, "Inbox")
    budget = env.rpc.project.emit(stream=f"project-{p.id}", type="BudgetThresholdReached", data={
        "project_id": p.id, "project_code": p.code, "manager_id": ann.id, "threshold": 100, "used_hours": 100,
        "budget_hours": 100})
    assign = env.rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
        "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": ann.id,
        "role": "member", "hourly_rate": None})
    told(env, budget), told(env, assign)
    inbox = env.rpc.notification.inbox(user_id=ann.id)
    assert [n["source_event_id"] for n in inbox] == [assign["id"], budget["id"]]  # newest first
    assert len(env.rpc.notification.inbox(user_id=ann.id, limit=1)) == 1

    with pytest.raises(Forbidden) as exc:
        env.rpc.notification.mark_read(user_id=boss.id, notification_id=inbox[0]["id"])
    assert exc.value.code == "notification.not_recipient"
    with pytest.raises(NotFound) as exc:
        env.rpc.notification.mark_read(user_id=ann.id, notification_id=new_id())
    assert exc.value.code == "notification.not_found"
    with pytest.raises(ValidationError) as exc:
        env.rpc.notification.mark_read(user_id=ann.id, notification_id="nope", colour="red")
    assert set(exc.value.errors) == {"notification_id", "colour"}

    out = env.rpc.notification.mark_read(user_id=ann.id, notification_id=inbox[0]["id"], command_id="read-1")
    again = env.rpc.notification.mark_read(user_id=ann.id, notification_id=inbox[0]["id"], command_id="read-1")
    assert out == again and out["read"] is True
    unread = env.rpc.notification.inbox(user_id=ann.id, unread_only=True, min_position=out["position"])
    assert [n["id"] for n in unread] == [inbox[1]["id"]]
    assert env.rpc.notification.inbox(user_id=ann.id, min_position=out["position"])[0]["read"] is True


def test_preferences_mute_kinds_and_choose_channels(env):
    boss, quiet, mailonly = person(env, "Pam"), person(env, "Quinn"), person(env, "Mel")
    p = project(env, boss, "Prefs")
    shown = env.rpc.notification.get_preferences(user_id=quiet.id)
    assert {k: v for k, v in shown.items() if k != "by_kind"} == {
        "user_id": quiet.id, "email": True, "inapp": True, "muted_kinds": [], "kinds": {}}
    assert set(shown["by_kind"]) == set(KINDS)
    with pytest.raises(ValidationError) as exc:
        env.rpc.notification.set_preferences(user_id=quiet.id, muted_kinds=["no_such_kind"])
    assert "muted_kinds" in exc.value.errors
    env.rpc.notification.set_preferences(user_id=quiet.id, muted_kinds=["member_assigned"])
    out = env.rpc.notification.set_preferences(user_id=mailonly.id, inapp=False)
    assert env.rpc.notification.get_preferences(user_id=mailonly.id, min_position=out["position"])["inapp"] is False

    def assign(who):
        return env.rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
            "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": who.id,
            "role": "member", "hourly_rate": None})

    muted, mail = assign(quiet), assign(mailonly)
    (note,) = told(env, mail)
    assert note["inapp"] is False
    mail_to(env, mailonly.email)
    assert env.rpc.notification.inbox(user_id=mailonly.id) == []
    # the muted one was processed before the later one, and told nobody
    assert env.rpc.notification.notifications_for(source_event_id=muted["id"]) == []
    assert env.smtp.messages_to(quiet.email) == []


def test_an_email_is_retried_until_the_smtp_server_accepts_it(env):
    boss, ann = person(env, "Sam"), person(env, "Sue")
    p = project(env, boss, "Retry")
    env.smtp.stop()
    try:
        source = env.rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
            "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": ann.id,
            "role": "member", "hourly_rate": None})
        (note,) = told(env, source)
        wait_until(lambda: len(env.rpc.notification.notification(notification_id=note["id"])["email"]
                               ["attempts"]) >= 2, message="failed attempts recorded")
    finally:
        env.smtp.start()
    mail_to(env, ann.email)
    state = wait_until(lambda: (s := env.rpc.notification.notification(notification_id=note["id"]))["email"]
                       ["status"] == "sent" and s)
    attempts = state["email"]["attempts"]
    assert attempts[-1]["outcome"] == "sent" and attempts[0]["outcome"] == "retry" and attempts[0]["error"]
    assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))


# -- webhooks -------------------------------------------------------------------------------------
def hook(env, script=(), event_types=("TimeLogged",), secret="s3cret-s3cret-s3cret"):
    path = env.receiver.endpoint(secret, script)
    out = env.rpc.notification.register_webhook(url=env.receiver.url(path), event_types=list(event_types),
                                                secret=secret, description="test")
    return path, out


def log_time(env, employee, hours=2.5):
    return timesheet(env, employee, "TimeLogged", {
        "entry_id": new_id(), "project_id": new_id(), "task_id": None, "date": "2026-11-24", "hours": hours,
        "billable": True, "description": "work"})


def requests_for(env, path, event_id, count):
    return wait_until(lambda: len(r := [x for x in env.receiver.requests(path) if x["json"]["id"] == event_id])
                      == count and r, timeout=15, message=f"{count} request(s) for {event_id}")


def delivery_of(env, webhook_id, event_id, status):
    def find():
        found = [d for d in env.rpc.notification.deliveries(webhook_id=webhook_id) if d["event_id"] == event_id]
        return found and found[0]["status"] == status and found[0]
    return wait_until(find, timeout=15, message=f"delivery {status}")


def test_register_webhook_validates_and_generates_a_secret(env):
    for url, field in [("ftp://example.com/x", "url"), ("http:///nohost", "url"), ("not a url", "url")]:
        with pytest.raises(ValidationError) as exc:
            env.rpc.notification.register_webhook(url=url, event_types=["*"])
        assert field in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        env.rpc.notification.register_webhook(url="https://example.com", event_types=["Time Logged!"])
    assert "event_types" in exc.value.errors
    with pytest.raises(ValidationError):
        env.rpc.notification.register_webhook(url="https://example.com", event_types=[])
    out = env.rpc.notification.register_webhook(url="https://example.com/h", event_types=["*"], command_id="wh-1")
    assert len(out["secret"]) == 64 and out["position"] > 0
    assert env.rpc.notification.register_webhook(url="https://example.com/h", event_types=["*"],
                                                 command_id="wh-1") == out
    listed = env.rpc.notification.list_webhooks(min_position=out["position"])
    assert out["id"] in [w["id"] for w in listed] and all("secret" not in w for w in listed)
    removed = env.rpc.notification.remove_webhook(webhook_id=out["id"])
    assert out["id"] not in [w["id"] for w in env.rpc.notification.list_webhooks(min_position=removed["position"])]
    with pytest.raises(Conflict) as exc:
        env.rpc.notification.remove_webhook(webhook_id=out["id"])
    assert exc.value.code == "webhook.already_removed"
    for call, code in [(lambda: env.rpc.notification.remove_webhook(webhook_id=new_id()), "webhook.not_found"),
                       (lambda: env.rpc.notification.deliveries(webhook_id=new_id()), "webhook.not_found"),
                       (lambda: env.rpc.notification.redeliver(delivery_id=new_id()), "delivery.not_found")]:
        with pytest.raises(NotFound) as exc:
            call()
        assert exc.value.code == code


def test_a_500_is_retried_until_a_200_with_signed_envelopes(env):
    emp = person(env, "Web")
    path, wh = hook(env, script=[500, 503])
    source = log_time(env, emp)
    sent = requests_for(env, path, source["id"], 3)
    assert [r["status"] for r in sent] == [500, 503, 200]
    assert all(r["signed"] for r in sent)
    assert len({r["headers"]["X-Chronicle-Delivery"] for r in sent}) == 1
    assert sent[0]["headers"]["X-Chronicle-Event"] == "TimeLogged"
    assert sent[0]["json"] == source  # the envelope as the source recorded it
    delivery = delivery_of(env, wh["id"], source["id"], "delivered")
    assert delivery["id"] == sent[0]["headers"]["X-Chronicle-Delivery"]
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in delivery["attempts"]] == [
        (1, 500, "retry"), (2, 503, "retry"), (3, 200, "delivered")]
    assert delivery["attempts"][0]["error"].startswith("HTTP 500")


def test_a_400_fails_at_once_and_stays_dead_until_redelivered(env):
    emp = person(env, "Four")
    path, wh = hook(env, script=[400])
    source = log_time(env, emp)
    dead = delivery_of(env, wh["id"], source["id"], "dead")
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in dead["attempts"]] == [(1, 400, "dead")]
    assert len(env.receiver.requests(path)) == 1
    out = env.rpc.notification.redeliver(delivery_id=dead["id"])  # "delivery.in_progress" is a domain test
    assert out["status"] == "pending"
    done = delivery_of(env, wh["id"], source["id"], "delivered")
    assert [a["attempt"] for a in done["attempts"]] == [1, 2]
    second = requests_for(env, path, source["id"], 2)[1]
    assert second["signed"] and second["headers"]["X-Chronicle-Delivery"] == dead["id"]


def test_retries_end_in_a_dead_delivery_after_the_last_attempt(env):
    emp = person(env, "Dead")
    path, wh = hook(env, script=[500, 500, 500, 500, 500])
    source = log_time(env, emp)
    dead = delivery_of(env, wh["id"], source["id"], "dead")
    assert [a["outcome"] for a in dead["attempts"]] == ["retry", "retry", "retry", "dead"]  # WEBHOOK_MAX_ATTEMPTS


def test_subscriptions_by_prefix_and_a_duplicate_source_event_gives_one_delivery(env):
    emp, boss = person(env, "Pre"), person(env, "Fix")
    path, wh = hook(env, event_types=["Timesheet*"])
    logged = log_time(env, emp)
    submitted = timesheet(env, emp, "TimesheetSubmitted", {"total_hours": 2.5, "projects": []})
    requests_for(env, path, submitted["id"], 1)
    dispatch(env.config, "timesheet", "TimesheetSubmitted", sign(env.config, submitted))  # the same event again
    marker = timesheet(env, emp, "TimesheetReopened", {"actor_id": boss.id, "reason": "oops",
                                                       "from_status": "submitted", "total_hours": 2.5, "projects": []})
    requests_for(env, path, marker["id"], 1)
    assert len([r for r in env.receiver.requests(path) if r["json"]["id"] == submitted["id"]]) == 1
    assert logged["id"] not in {r["json"]["id"] for r in env.receiver.requests(path)}
    deliveries = env.rpc.notification.deliveries(webhook_id=wh["id"])
    assert sorted(d["event_type"] for d in deliveries) == ["TimesheetReopened", "TimesheetSubmitted"]


# -- reminders ------------------------------------------------------------------------------------
def log_hours(env, who, week, day, h):
    timesheet(env, who, "TimeLogged", {"entry_id": new_id(), "project_id": new_id(), "task_id": None,
                                       "date": day, "hours": h, "billable": True, "description": ""}, week=week)


def absence(env, who, starts_on, ends_on):
    env.rpc.resource.emit(stream=f"resource-{who.id}", type="AbsenceRegistered", data={
        "resource_id": who.id, "absence_id": new_id(), "starts_on": starts_on, "ends_on": ends_on,
        "kind": "vacation", "hours_per_day": None})


def test_send_reminders_reminds_those_below_capacity_minus_absences_and_not_submitted(env):
    week = "2027-W05"  # Mon 2027-02-01 .. Sun 2027-02-07
    lazy, full, submitted, absent, gone = (person(env, n) for n in ("Lazy", "Full", "Subm", "Away", "Gone"))
    for who, h in [(lazy, 10), (full, 40), (submitted, 5), (absent, 24)]:
        log_hours(env, who, week, "2027-02-02", h)
    timesheet(env, submitted, "TimesheetSubmitted", {"total_hours": 5, "projects": []}, week=week)
    absence(env, absent, "2027-02-03", "2027-02-04")
    # 40 h over Mon/Wed/Fri is 13.33/13.33/13.34 (the resource service's split); Friday off: 26.66 h net
    net = person(env, "Net", working_days=[1, 3, 5])
    absence(env, net, "2027-02-05", "2027-02-05")
    log_hours(env, net, week, "2027-02-01", 13.33)
    log_hours(env, net, week, "2027-02-03", 13.33)
    # 37.5 h a week, cut to 20 h only from 2027-06-07 (after the week, and after today): 24 h is too few
    cut = person(env, "Cut", capacity=37.5)
    log_hours(env, cut, week, "2027-02-02", 24)
    env.rpc.resource.emit(stream=f"resource-{cut.id}", type="ResourceUpdated", data={
        "resource_id": cut.id, "changes": {"weekly_capacity_hours": 20}, "previous": {"weekly_capacity_hours": 37.5},
        "effective_from": "2027-06-07"})
    env.rpc.resource.emit(stream=f"resource-{cut.id}", type="ResourceUpdated", data={  # same stream: comes after
        "resource_id": cut.id, "changes": {"name": "Cut Later"}, "previous": {"name": "Cut"}, "effective_from": None})
    wait_until(lambda: env.rpc.notification.person(person_id=cut.id)["name"] == "Cut Later")
    assert env.rpc.notification.person(person_id=cut.id)["weekly_capacity_hours"] == 37.5  # in force today
    env.rpc.resource.emit(stream=f"resource-{gone.id}", type="ResourceDeactivated", data={
        "resource_id": gone.id, "cancelled_booking_ids": []})
    wait_until(lambda: not env.rpc.notification.person(person_id=gone.id)["active"])

    with pytest.raises(ValidationError) as exc:
        env.rpc.notification.send_reminders(week="2026-48")
    assert "week" in exc.value.errors

    def reminded():
        out = env.rpc.notification.send_reminders(week=week)
        ids = {r["resource_id"] for r in out["resources"]}
        # facts arrive asynchronously from three sources; everyone we fed must be accounted for
        logged = {r["resource_id"]: r["logged_hours"] for r in out["resources"]}
        return (lazy.id in ids and logged.get(cut.id) == 24 and net.id not in ids
                and ids.isdisjoint({full.id, submitted.id, absent.id, gone.id}) and out)

    out = wait_until(reminded, timeout=15, message="the reminder round")
    lines = {r["resource_id"]: r for r in out["resources"]}
    assert lines[lazy.id] == {"resource_id": lazy.id, "logged_hours": 10, "expected_hours": 40}
    assert lines[cut.id] == {"resource_id": cut.id, "logged_hours": 24, "expected_hours": 37.5}
    (message,) = mail_to(env, lazy.email)
    assert message["Subject"] == f"Please complete your timesheet for {week}"
    assert "Hours logged: 10" in message.get_payload(decode=True).decode()
    assert any(n["kind"] == "timesheet_reminder" for n in env.rpc.notification.inbox(user_id=lazy.id))
    rounds = env.rpc.notification.reminder_rounds(week=week, min_position=out["position"])
    assert rounds[-1]["trigger"] == "rpc" and lazy.id in rounds[-1]["resource_ids"]


def test_reminders_are_refused_for_a_week_not_over_and_skip_people_registered_after_it(env):
    lazy = person(env, "Newcomer")  # registered now (2026 or later), with nothing logged
    for week in ("2027-W09", "2027-W10", "2030-W01"):  # this week (the clock is Monday 2027-03-01), the future
        with pytest.raises(RuleViolation) as exc:
            env.rpc.notification.send_reminders(week=week)
        assert exc.value.code == "notification.week_not_over"
    assert env.rpc.notification.reminder_rounds(week="2027-W09") == []
    out = env.rpc.notification.send_reminders(week="2020-W53")  # before anyone here was registered
    assert out["resources"] == []
    assert lazy.id in {r["resource_id"] for r in env.rpc.notification.send_reminders(week="2027-W08")["resources"]}


def test_register_webhook_refuses_urls_that_can_never_be_sent_to(env):
    for url in ("http://[::1", "http://example.com:abc/", "http://example.com:99999/", "http://example.com:0/",
                "http://exa mple.com/", "http://-bad.example/", "https://a..b/"):
        with pytest.raises(ValidationError) as exc:
            env.rpc.notification.register_webhook(url=url, event_types=["*"])
        assert exc.value.code == "validation_failed" and "url" in exc.value.errors, url
    for types in (["timelogged"], ["TimeLogged", "timesheet*"], ["*Logged"]):
        with pytest.raises(ValidationError) as exc:
            env.rpc.notification.register_webhook(url="https://example.com/h", event_types=types)
        assert "event_types" in exc.value.errors, types
    ok = env.rpc.notification.register_webhook(url="https://hooks.example.com:8443/in?x=1",
                                               event_types=["TimeLogged", "Timesheet*", "*"])
    env.rpc.notification.remove_webhook(webhook_id=ok["id"])


def test_redeliver_is_refused_once_the_webhook_was_removed(env):
    emp = person(env, "Gone Hook")
    path, wh = hook(env, script=[400])
    source = log_time(env, emp)
    dead = delivery_of(env, wh["id"], source["id"], "dead")
    removed = env.rpc.notification.remove_webhook(webhook_id=wh["id"])
    before = env.rpc.notification.events_since(position=0, limit=1)["head"]
    with pytest.raises(Conflict) as exc:
        env.rpc.notification.redeliver(delivery_id=dead["id"])
    assert exc.value.code == "webhook.removed"
    (after,) = [d for d in env.rpc.notification.deliveries(webhook_id=wh["id"], min_position=removed["position"])
                if d["id"] == dead["id"]]
    assert after["status"] == "dead" and after["attempts"] == dead["attempts"]
    since = env.rpc.notification.events_since(position=before, limit=1000)["events"]
    assert not [e for e in since if e["type"] == "DeliveryRedelivered" and e["data"]["delivery_id"] == dead["id"]]
    assert len(env.receiver.requests(path)) == 1


def test_an_event_whose_notification_fails_still_reaches_its_webhooks(env, monkeypatch):
    boss, ann = person(env, "Hook Boss"), person(env, "Hook Ann")
    p = project(env, boss, "Sturdy")

    def broken(self, chronicle, event):
        raise RuntimeError("cannot render this notification")

    monkeypatch.setattr(Notifier, "on_MemberAssigned", broken)
    path, wh = hook(env, event_types=["MemberAssigned"])
    source = env.rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
        "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": ann.id,
        "role": "member", "hourly_rate": None})
    requests_for(env, path, source["id"], 1)
    delivery_of(env, wh["id"], source["id"], "delivered")
    assert env.rpc.notification.notifications_for(source_event_id=source["id"]) == []
    monkeypatch.undo()  # the failing event is parked after its retries; the next one is handled
    later = env.rpc.project.emit(stream=f"project-{p.id}", type="MemberAssigned", data={
        "project_id": p.id, "project_code": p.code, "project_name": p.name, "employee_id": boss.id,
        "role": "member", "hourly_rate": None})
    told(env, later)
    requests_for(env, path, later["id"], 1)
    env.rpc.notification.remove_webhook(webhook_id=wh["id"])


def test_a_link_pattern_that_cannot_render_stops_the_service_at_start_up(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, LINK_PATTERN="https://chronicle.test/{kind")
    with pytest.raises(ValueError, match="LINK_PATTERN 'https://chronicle.test/{kind' is not a valid link"):
        with running(config, NotificationService):
            pass  # pragma: no cover - the container must not start


def test_events_are_json_and_the_webhook_category_is_not_published(env):
    page = env.rpc.notification.events_since(position=0, limit=1000)
    types = {e["type"] for e in page["events"]}
    assert "NotificationCreated" in types and "DeliveryAttempted" in types
    assert "WebhookRegistered" not in types
    json.dumps(page)


# -- strict arguments -----------------------------------------------------------------------------------
RPCS = sorted(name for name, fn in inspect.getmembers(NotificationService)
              if any(isinstance(e, Rpc) for e in getattr(fn, ENTRYPOINT_EXTENSIONS_ATTR, ())))


@pytest.mark.parametrize("rpc", RPCS)
def test_every_rpc_refuses_an_unknown_argument(env, rpc):
    before = env.rpc.notification.events_since(position=0, limit=1)["head"]
    with pytest.raises(ValidationError) as exc:
        getattr(env.rpc.notification, rpc)(colour="red")
    assert exc.value.code == "validation_failed" and "colour" in exc.value.errors
    assert env.rpc.notification.events_since(position=0, limit=1)["head"] == before


def test_booleans_are_strict_json_booleans(env):
    user = new_id()
    for value in ("yes", "off", "false", 0, 1, None):
        with pytest.raises(ValidationError) as exc:
            env.rpc.notification.set_preferences(user_id=user, inapp=value, email=value)
        assert set(exc.value.errors) == {"inapp", "email"}
        with pytest.raises(ValidationError) as exc:
            env.rpc.notification.inbox(user_id=user, unread_only=value)
        assert set(exc.value.errors) == {"unread_only"}
    # nothing was recorded: the defaults still hold
    for value in ("yes", 0, None):
        with pytest.raises(ValidationError) as exc:
            env.rpc.notification.set_preferences(user_id=user, kinds={"member_assigned": {"email": value}})
        assert set(exc.value.errors) == {"kinds"}
    with pytest.raises(ValidationError) as exc:  # an unknown kind, or an unknown channel
        env.rpc.notification.set_preferences(user_id=user, kinds={"no_such_kind": {"email": True}})
    with pytest.raises(ValidationError) as exc:
        env.rpc.notification.set_preferences(user_id=user, kinds={"member_assigned": {"webhook": True}})
    shown = env.rpc.notification.get_preferences(user_id=user)
    assert {k: v for k, v in shown.items() if k != "by_kind"} == {
        "user_id": user, "email": True, "inapp": True, "muted_kinds": [], "kinds": {}}
    out = env.rpc.notification.set_preferences(user_id=user, inapp=False, email=True)
    assert (out["inapp"], out["email"]) == (False, True)
    assert env.rpc.notification.inbox(user_id=user, unread_only=True) == []


def test_a_command_id_reused_for_another_command_on_the_same_aggregate_is_refused(env):
    hook = env.rpc.notification.register_webhook(url="https://example.com/reuse", event_types=["*"],
                                                 command_id="reuse-1")
    with pytest.raises(Conflict) as exc:
        env.rpc.notification.remove_webhook(webhook_id=hook["id"], command_id="reuse-1")
    assert exc.value.code == "command_id.reused"
    assert hook["id"] in [w["id"] for w in env.rpc.notification.list_webhooks(min_position=hook["position"])]
