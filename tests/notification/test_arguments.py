"""The notification service's RPCs refuse bad input with field errors and append nothing (issue 9, item 4):
the same rules as every service (shared.validation)."""
import pytest

from services.notification.service import NotificationService
from shared.errors import ValidationError
from shared.testing import fake_source, rpc_proxy, running, service_config
from tests.notification.helpers import free_port

SOURCES = (fake_source("project"), fake_source("timesheet", ["timesheet", "timesheetlock"]), fake_source("resource"))


@pytest.fixture(scope="module")
def rpc(amqp_uri, tmp_path_factory):
    config = service_config(amqp_uri, tmp_path_factory.mktemp("notification-args"), WEBHOOK_ALLOW_PRIVATE="true",
                            REMINDER_CHECK_SECONDS=3600)
    with running(config, NotificationService, *SOURCES), rpc_proxy(config) as cluster:
        yield cluster


def head(rpc):
    return rpc.notification.events_since(position=0, limit=1)["head"]


def test_weeks_beyond_the_range_loose_positions_and_control_characters_are_refused(rpc):
    url = f"http://127.0.0.1:{free_port()}/hook"
    before = head(rpc)
    refused = [
        ("week", lambda: rpc.notification.send_reminders(week="9999-W52")),
        ("week", lambda: rpc.notification.reminder_rounds(week="3000-W02")),
        ("min_position", lambda: rpc.notification.inbox(user_id="8a1f3c2e-0000-4000-8000-000000000001",
                                                        min_position="1")),
        ("min_position", lambda: rpc.notification.list_webhooks(min_position=1.5)),
        ("limit", lambda: rpc.notification.inbox(user_id="8a1f3c2e-0000-4000-8000-000000000001", limit="5")),
        ("description", lambda: rpc.notification.register_webhook(url=url, event_types=["*"],
                                                                  description="payroll\x00")),
        ("description", lambda: rpc.notification.register_webhook(url=url, event_types=["*"],
                                                                  description="\u202eevil")),
        ("url", lambda: rpc.notification.register_webhook(url=url + "\x00", event_types=["*"])),
        ("event_types", lambda: rpc.notification.register_webhook(url=url, event_types=["TimeLogged\n"])),
    ]
    for field, call in refused:
        with pytest.raises(ValidationError) as err:
            call()
        assert field in str(err.value.errors), (field, err.value.errors)
    assert head(rpc) == before
    hook = rpc.notification.register_webhook(url=url, event_types=["*"], description="Ærøskøbing lønn")
    assert hook["description"] == "Ærøskøbing lønn"
