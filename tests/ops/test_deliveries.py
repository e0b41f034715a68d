"""Dead webhook deliveries seen and repaired from outside: `chronicle deliveries dead|resend`, the status line and
the delivery metric, against the real notification service, a real HTTP receiver and real RabbitMQ."""
import json
import os
import subprocess
import sys
import urllib.request
from types import SimpleNamespace

import pytest

from services.notification.service import NotificationService
from shared.testing import TEST_TOKEN_KEY, rpc_proxy, running, service_config
from tests.notification.helpers import FakeProject, FakeResource, FakeTimesheet, Receiver, free_port
from tests.notification.test_service import delivery_of, hook, log_time, person

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def env(isolated_amqp_uri, tmp_path):
    receiver = Receiver().start()
    port = free_port()
    config = service_config(isolated_amqp_uri, tmp_path / "data", DELIVERY_POLL_INTERVAL=0.1,
                            WEBHOOK_BACKOFF_SECONDS="0.2", WEBHOOK_MAX_ATTEMPTS=2, RETRY_JITTER=0.1,
                            WEBHOOK_ALLOW_PRIVATE="true", REMINDER_CHECK_SECONDS=3600, METRICS_PORT=port)
    cli_env = dict(os.environ, AMQP_URI=isolated_amqp_uri, CHRONICLE_DATA_DIR=str(tmp_path / "data"),
                   PYTHONPATH=ROOT, CHRONICLE_TOKEN_KEY=TEST_TOKEN_KEY)
    try:
        with running(config, FakeProject, FakeTimesheet, FakeResource, NotificationService), \
                rpc_proxy(config) as rpc:
            yield SimpleNamespace(config=config, rpc=rpc, receiver=receiver, cli_env=cli_env, port=port)
    finally:
        receiver.stop()


def chronicle(env, *args):
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], cwd=ROOT, env=env.cli_env,
                          capture_output=True, text=True, timeout=60)


def dead_webhook_metric(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('chronicle_deliveries_total{channel="webhook",outcome="dead",service="notification"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_dead_webhook_delivery_is_listed_counted_and_resent(env):
    dead_before = dead_webhook_metric(env.port)  # counters are per process: other tests' deliveries count too
    employee = person(env, "Dora")
    _, webhook = hook(env, script=[400])  # a 400 is final: dead at once; the receiver answers 200 after that
    source = log_time(env, employee)
    dead = delivery_of(env, webhook["id"], source["id"], "dead")

    listed = chronicle(env, "deliveries", "dead", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["channel"], r["id"]) for r in rows] == [("webhook", dead["id"])]
    assert "secret" not in listed.stdout or "***" in listed.stdout
    status = json.loads(chronicle(env, "status", "notification", "--json").stdout)
    assert status["services"]["notification"]["dead"]["webhooks"] == 1
    assert dead_webhook_metric(env.port) == dead_before + 1

    resent = chronicle(env, "deliveries", "resend", dead["id"])
    assert resent.returncode == 0 and f"{dead['id']}: webhook resent" in resent.stdout, resent.stdout + resent.stderr
    delivery_of(env, webhook["id"], source["id"], "delivered")
    assert chronicle(env, "deliveries", "dead", "--json").stdout == ""
    again = chronicle(env, "deliveries", "resend", "--all")
    assert again.returncode == 0 and "0 resent" in again.stdout
