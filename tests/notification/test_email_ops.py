"""E-mail operations: held while SMTP is not configured (and sent after a restart with it), dead e-mails and
webhook deliveries listed and resent, implicit TLS, Date and Message-ID headers, and attempts that carry the
correlation of what caused them. Real containers, a real aiosmtpd server, a real webhook receiver."""
import logging
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from types import SimpleNamespace

import pytest

from services.notification.service import NotificationService
from shared.errors import NotFound
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.notification.helpers import (
    FakeProject,
    FakeResource,
    Receiver,
    SmtpServer,
    free_port,
    new_id,
    self_signed_certificate,
)

SECRET = "email-ops-secret-0123456789"


@pytest.fixture(autouse=True)
def no_smtp_from_the_environment(monkeypatch):
    for key in ("SMTP_HOST", "SMTP_PORT", "SMTP_TLS", "SMTP_STARTTLS"):
        monkeypatch.delenv(key, raising=False)


def config_for(amqp_uri, data_dir, **extra):
    return service_config(amqp_uri, data_dir, DELIVERY_POLL_INTERVAL=0.1, RETRY_JITTER=0.1,
                          WEBHOOK_ALLOW_PRIVATE="true", REMINDER_CHECK_SECONDS=3600, SMTP_FROM="chronicle@example.com",
                          **extra)


def person(rpc, name):
    rid = new_id()
    address = f"{name.lower()}.{rid[:6]}@example.com"
    rpc.resource.emit(stream=f"resource-{rid}", type="ResourceRegistered", data={
        "resource_id": rid, "name": name, "email": address, "weekly_capacity_hours": 40, "skills": [],
        "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
    return SimpleNamespace(id=rid, email=address)


def assign(rpc, employee, correlation_id=None):
    """A MemberAssigned on a new project: one notification (with an e-mail) for ``employee``."""
    pid = new_id()
    return rpc.project.emit(stream=f"project-{pid}", type="MemberAssigned", data={
        "project_id": pid, "project_code": "P1", "project_name": "Pier", "employee_id": employee.id,
        "role": "member", "hourly_rate": None}, metadata={"correlation_id": correlation_id} if correlation_id else None)


def notification_for(rpc, source):
    (note,) = wait_until(lambda: rpc.notification.notifications_for(source_event_id=source["id"]), timeout=15,
                         message="the notification")
    return note


def email_of(rpc, note_id):
    return rpc.notification.notification(notification_id=note_id)["email"]


def test_without_smtp_emails_are_held_then_sent_after_a_restart_with_smtp(isolated_amqp_uri, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="services.notification.courier")
    receiver = Receiver().start()
    path = receiver.endpoint(SECRET)
    # Without SMTP_HOST, and a budget that would kill an attempted e-mail at once.
    config = config_for(isolated_amqp_uri, tmp_path / "data", EMAIL_MAX_ATTEMPTS=1, EMAIL_BACKOFF_SECONDS="0.1")
    smtp = SmtpServer(tmp_path / "maildir")
    try:
        with running(config, FakeProject, FakeResource), rpc_proxy(config) as rpc:
            ann = person(rpc, "Ann")
            with running(config, NotificationService):
                hook = rpc.notification.register_webhook(url=receiver.url(path), event_types=["ProjectUpdated"],
                                                         secret=SECRET)
                note = notification_for(rpc, assign(rpc, ann))
                # A later event reaches its webhook: the courier has had its rounds since the e-mail was due.
                later = rpc.project.emit(stream=f"project-{new_id()}", type="ProjectUpdated", data={
                    "project_id": new_id(), "changes": {}, "previous": {}})
                wait_until(lambda: [d for d in rpc.notification.deliveries(webhook_id=hook["id"])
                                    if d["event_id"] == later["id"] and d["status"] == "delivered"], timeout=15)
                held = email_of(rpc, note["id"])
                assert held == {"status": "held", "held": "SMTP not configured", "attempts": []}
                assert rpc.notification.notifications_for(source_event_id=note["source_event_id"])[0][
                    "email_status"] == "held"
                assert rpc.notification.dead_deliveries() == []
            warnings = [r for r in caplog.records if "SMTP_HOST is not configured" in r.getMessage()]
            assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
            smtp.start()
            with running({**config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port}, NotificationService):
                (message,) = wait_until(lambda: smtp.messages_to(ann.email), timeout=15, message="the held e-mail")
                sent = wait_until(lambda: (e := email_of(rpc, note["id"]))["status"] == "sent" and e, timeout=10)
    finally:
        smtp.stop()
        receiver.stop()
    assert [(a["attempt"], a["outcome"]) for a in sent["attempts"]] == [(1, "sent")] and sent["held"] is None
    assert message["X-Chronicle-Notification"] == note["id"]


def test_dead_emails_and_deliveries_are_listed_and_resent(isolated_amqp_uri, tmp_path):
    receiver = Receiver().start()
    path = receiver.endpoint(SECRET, script=[400, 400])  # both first requests are refused for good: dead
    smtp = SmtpServer(tmp_path / "maildir", port=free_port())  # not started yet: every attempt fails
    config = config_for(isolated_amqp_uri, tmp_path / "data", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port,
                        EMAIL_MAX_ATTEMPTS=2, EMAIL_BACKOFF_SECONDS="0.1")
    try:
        with running(config, FakeProject, FakeResource, NotificationService), rpc_proxy(config) as rpc:
            hook = rpc.notification.register_webhook(url=receiver.url(path), event_types=["MemberAssigned"],
                                                     secret=SECRET)
            ann, bob = person(rpc, "Ann"), person(rpc, "Bob")
            first, second = (notification_for(rpc, assign(rpc, p)) for p in (ann, bob))

            def all_dead():
                dead = rpc.notification.dead_deliveries()
                return len(dead) == 4 and dead  # two e-mails, two deliveries

            dead = wait_until(all_dead, timeout=20, message="two dead e-mails and two dead deliveries")
            emails = [d for d in dead if d["channel"] == "email"]
            hooks = [d for d in dead if d["channel"] == "webhook"]
            assert {d["id"] for d in emails} == {first["id"], second["id"]}
            assert all(d["attempts"] == 2 and d["last_error"] for d in emails)
            assert {d["webhook_id"] for d in hooks} == {hook["id"]} and all(d["attempts"] == 1 for d in hooks)
            assert all(d["last_error"].startswith("HTTP 400") for d in hooks)
            smtp.start()
            # One e-mail by its id: sent, attempt numbers go on from the dead ones.
            resent = rpc.notification.resend_delivery(delivery_id=first["id"])
            assert (resent["channel"], resent["status"]) == ("email", "pending")
            wait_until(lambda: smtp.messages_to(ann.email), timeout=15, message="the resent e-mail")
            done = wait_until(lambda: (e := email_of(rpc, first["id"]))["status"] == "sent" and e, timeout=10)
            assert [(a["attempt"], a["outcome"]) for a in done["attempts"]] == [(1, "retry"), (2, "dead"),
                                                                               (3, "sent")]
            # The rest at once.
            out = rpc.notification.resend_dead(command_id="repair-1")
            assert {(r["channel"], r["id"]) for r in out["resent"]} == \
                {("email", second["id"])} | {("webhook", d["id"]) for d in hooks}
            assert out["skipped"] == []
            wait_until(lambda: smtp.messages_to(bob.email), timeout=15, message="the second e-mail")
            wait_until(lambda: len(receiver.requests(path)) == 4, timeout=15, message="the deliveries resent")
            wait_until(lambda: rpc.notification.dead_deliveries() == [], timeout=10, message="nothing dead")
            assert rpc.notification.resend_dead(command_id="repair-1") == {"resent": [], "skipped": [],
                                                                           "position": None}
            with pytest.raises(NotFound) as exc:
                rpc.notification.resend_delivery(delivery_id=new_id())
            assert exc.value.code == "delivery.not_found"
    finally:
        smtp.stop()
        receiver.stop()
    assert [r["status"] for r in receiver.requests(path)] == [400, 400, 200, 200]


def test_implicit_tls_date_message_id_and_the_correlation_of_attempts(isolated_amqp_uri, tmp_path):
    cert, key = self_signed_certificate(str(tmp_path))
    smtp = SmtpServer(tmp_path / "maildir", smtps=(cert, key)).start()
    receiver = Receiver().start()
    path = receiver.endpoint(SECRET)
    config = config_for(isolated_amqp_uri, tmp_path / "data", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port,
                        SMTP_TLS="implicit", SMTP_CA_FILE=cert)
    correlation = f"corr-{uuid.uuid4().hex[:8]}"
    try:
        with running(config, FakeProject, FakeResource, NotificationService), rpc_proxy(config) as rpc:
            hook = rpc.notification.register_webhook(url=receiver.url(path), event_types=["MemberAssigned"],
                                                     secret=SECRET)
            ann = person(rpc, "Ann")
            source = assign(rpc, ann, correlation_id=correlation)
            note = notification_for(rpc, source)
            (message,) = wait_until(lambda: smtp.messages_to(ann.email), timeout=15, message="the e-mail over SMTPS")
            wait_until(lambda: email_of(rpc, note["id"])["status"] == "sent", timeout=10)
            wait_until(lambda: rpc.notification.deliveries(webhook_id=hook["id"])[0]["status"] == "delivered",
                       timeout=15)
            events = rpc.notification.events_since(position=0, limit=1000)["events"]
    finally:
        smtp.stop()
        receiver.stop()
    assert message["Message-ID"] == f"<{note['id']}@example.com>"
    assert abs(parsedate_to_datetime(message["Date"]) - datetime.now(timezone.utc)) < timedelta(minutes=5)
    created = next(e for e in events if e["type"] == "NotificationCreated" and e["data"]["notification_id"] == note["id"])
    (attempted,) = [e for e in events if e["type"] == "EmailAttempted" and e["data"]["notification_id"] == note["id"]]
    assert created["metadata"]["correlation_id"] == correlation
    assert attempted["metadata"]["correlation_id"] == correlation
    assert attempted["metadata"]["causation_id"] == created["id"]
    scheduled = next(e for e in events if e["type"] == "DeliveryScheduled" and e["data"]["event_id"] == source["id"])
    (delivered,) = [e for e in events if e["type"] == "DeliveryAttempted"
                    and e["data"]["delivery_id"] == scheduled["data"]["delivery_id"]]
    assert delivered["metadata"]["correlation_id"] == correlation
    assert delivered["metadata"]["causation_id"] == scheduled["id"]
