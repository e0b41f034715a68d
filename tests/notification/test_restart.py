"""Retries survive a restart, and the reminder timer with a fixed clock. Each test runs its own
containers (they start and stop the service on purpose)."""
import pytest

from services.notification.service import NotificationService
from shared.errors import ValidationError
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.notification.helpers import FakeResource, FakeTimesheet, Receiver, new_id

SECRET = "restart-secret-0123456789"


def test_a_receiver_that_is_down_gets_the_delivery_after_it_and_the_service_come_back(isolated_amqp_uri, tmp_path):
    receiver = Receiver()  # not started: the receiver is down
    path = receiver.endpoint(SECRET)
    config = service_config(isolated_amqp_uri, tmp_path, DELIVERY_POLL_INTERVAL=0.1, WEBHOOK_BACKOFF_SECONDS="0.3,0.5",
                            WEBHOOK_MAX_ATTEMPTS=50, RETRY_JITTER=0.1, WEBHOOK_ALLOW_PRIVATE="true",
                            REMINDER_CHECK_SECONDS=3600)
    with running(config, FakeTimesheet), rpc_proxy(config) as rpc:
        with running(config, NotificationService):
            hook = rpc.notification.register_webhook(url=receiver.url(path), event_types=["TimeLogged"],
                                                     secret=SECRET)
            employee = new_id()
            source = rpc.timesheet.emit(stream=f"timesheet-{employee}_2026W48", type="TimeLogged", data={
                "entry_id": new_id(), "employee_id": employee, "week": "2026-W48", "project_id": new_id(),
                "task_id": None, "date": "2026-11-24", "hours": 1, "billable": True, "description": ""})

            def failed_twice():
                found = rpc.notification.deliveries(webhook_id=hook["id"])
                return found and len(found[0]["attempts"]) >= 2 and found[0]

            down = wait_until(failed_twice, timeout=15, message="failed attempts while the receiver is down")
            assert down["status"] == "pending" and down["attempts"][0]["status_code"] is None
            assert down["attempts"][0]["error"].startswith("connection error")
        receiver.start()
        try:
            assert receiver.requests(path) == []  # nothing is sent while the service is stopped
            with running(config, NotificationService):
                wait_until(lambda: receiver.requests(path), timeout=15, message="delivery after the restart")

                def delivered():
                    (delivery,) = rpc.notification.deliveries(webhook_id=hook["id"])
                    return delivery["status"] == "delivered" and delivery  # one delivery, whatever the attempts

                done = wait_until(delivered, timeout=15)
        finally:
            receiver.stop()
    (request,) = receiver.requests(path)
    assert request["signed"] and request["json"]["id"] == source["id"]
    assert request["headers"]["X-Chronicle-Delivery"] == done["id"] == down["id"]
    assert [a["attempt"] for a in done["attempts"]] == list(range(1, len(done["attempts"]) + 1))
    assert done["attempts"][-1]["status_code"] == 200


def test_the_timer_reminds_for_the_previous_week_once_at_the_configured_time(isolated_amqp_uri, tmp_path):
    # A fixed clock on Tuesday 2030-03-12 10:00 UTC, reminders on Tuesdays at 09:30: due for 2030-W10 (people
    # registered after a week ended are not reminded for it, so the clock is after their registration).
    config = service_config(isolated_amqp_uri, tmp_path, REMINDER_FIXED_NOW="2030-03-12T10:00:00Z", REMINDER_WEEKDAY=2,
                            REMINDER_TIME="09:30", REMINDER_CHECK_SECONDS=0.3, DELIVERY_POLL_INTERVAL=0.2)
    lazy, busy = new_id(), new_id()
    with running(config, FakeResource, FakeTimesheet), rpc_proxy(config) as rpc:
        for rid, name in [(lazy, "Lazy"), (busy, "Busy")]:
            rpc.resource.emit(stream=f"resource-{rid}", type="ResourceRegistered", data={
                "resource_id": rid, "name": name, "email": f"{name.lower()}@example.com", "weekly_capacity_hours": 37.5, "skills": [],
                "working_days": [1, 2, 3, 4, 5], "title": ""})
        rpc.timesheet.emit(stream=f"timesheet-{busy}_2030W10", type="TimeLogged", data={
            "entry_id": new_id(), "employee_id": busy, "week": "2030-W10", "project_id": new_id(),
            "task_id": None, "date": "2030-03-04", "hours": 37.5, "billable": True, "description": ""})
        # The service starts after the facts were published: its timer pulls the feeds first.
        with running(config, NotificationService):
            rounds = wait_until(lambda: rpc.notification.reminder_rounds(week="2030-W10"), timeout=15,
                                message="the timer's reminder round")
            assert [(r["round"], r["trigger"], r["resource_ids"]) for r in rounds] == [(1, "timer", [lazy])]
            (note,) = wait_until(lambda: rpc.notification.inbox(user_id=lazy), timeout=10)
            assert note["kind"] == "timesheet_reminder" and "0 h of the 37.5 h expected" in note["body"]
            # Later ticks of the same week send nothing more: wait for a few of them.
            position = rpc.notification.events_since(position=0, limit=1000)["head"]
            wait_until(lambda: rpc.notification.reminder_rounds(week="2030-W10", min_position=position), timeout=5)
            assert rpc.notification.inbox(user_id=busy) == []
            assert [r["trigger"] for r in rpc.notification.reminder_rounds(week="2030-W10")] == ["timer"]
            assert rpc.notification.reminder_rounds(week="2030-W09") == []
            # This container does not set WEBHOOK_ALLOW_PRIVATE: loopback and private targets are refused.
            for url in ("http://127.0.0.1:8080/hook", "https://10.1.2.3/hook", "http://localhost/x"):
                with pytest.raises(ValidationError) as exc:
                    rpc.notification.register_webhook(url=url, event_types=["*"])
                assert exc.value.code == "webhook.private_address" and "url" in exc.value.errors


def test_a_registration_retried_after_its_host_turned_private_returns_the_first_result(
        isolated_amqp_uri, tmp_path, monkeypatch):
    config = service_config(isolated_amqp_uri, tmp_path, REMINDER_CHECK_SECONDS=3600)  # private targets refused
    resolves_to = {"address": None}  # what the host resolves to now (None: a public address)
    monkeypatch.setattr("services.notification.service.private_address", lambda url: resolves_to["address"])
    with running(config, NotificationService), rpc_proxy(config) as rpc:
        first = rpc.notification.register_webhook(url="https://hooks.example.com/in", event_types=["*"],
                                                  command_id="hook-dns")
        resolves_to["address"] = "10.0.0.7"  # the DNS record changed since
        # the client's reply was lost: its retry gets the first result, and nothing is appended
        assert rpc.notification.register_webhook(url="https://hooks.example.com/in", event_types=["*"],
                                                 command_id="hook-dns") == first
        assert [w["id"] for w in rpc.notification.list_webhooks(min_position=first["position"])] == [first["id"]]
        # a new registration is refused
        with pytest.raises(ValidationError) as exc:
            rpc.notification.register_webhook(url="https://hooks.example.com/in", event_types=["*"],
                                              command_id="hook-dns-2")
        assert exc.value.code == "webhook.private_address"
