"""The `chronicle` operator commands against the four real services on real RabbitMQ: status, events, tail."""
import json
import os
import select
import subprocess
import sys

import pytest

from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import TEST_TOKEN_KEY, rpc_proxy, running, service_config, wait_until

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def chronicle(env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def platform(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path)
    env = dict(os.environ, AMQP_URI=isolated_amqp_uri, CHRONICLE_DATA_DIR=str(tmp_path), PYTHONPATH=ROOT,
               CHRONICLE_TOKEN_KEY=TEST_TOKEN_KEY)
    with running(config, ProjectService, TimesheetService, ResourceService, NotificationService) as runner, \
            rpc_proxy(config) as rpc:
        yield runner, rpc, env


def test_status_shows_lag_and_exits_non_zero_when_a_service_is_stopped(platform):
    runner, rpc, env = platform
    manager = rpc.resource.register_resource(name="Mona Manager", email="mona@cli.example")
    rpc.project.create_project(name="Quay", code="QUAY", manager_id=manager["id"])

    def all_caught_up():
        out = chronicle(env, "status", "--json", "--max-lag", "0")
        return out if out.returncode == 0 else None

    out = wait_until(all_caught_up, timeout=60, interval=1, message="status never said all is well")
    report = json.loads(out.stdout)
    assert report["ok"] and set(report["services"]) == {"project", "timesheet", "resource", "notification"}
    project = report["services"]["project"]
    assert project["answers"] and project["relay"]["lag"] == 0 and project["store"]["head"] > 0
    assert project["consumers"]["resource"]["lag"] == 0
    assert report["services"]["notification"]["dead"]["webhooks"] == 0

    next(c for c in runner.containers if c.service_name == "project").stop()
    rpc.resource.register_resource(name="Late Comer", email="late@cli.example")  # project cannot record it
    out = chronicle(env, "status", "--json", "--max-lag", "0")
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    project = report["services"]["project"]
    assert project["answers"] is False and project["from_files"] is True  # what its own files say
    assert project["consumers"]["resource"]["lag"] >= 1
    assert any(p.startswith("project does not answer") for p in report["problems"])
    table = chronicle(env, "status")
    assert table.returncode == 1 and "DOWN" in table.stdout and "project does not answer" in table.stdout
    assert "Traceback" not in table.stdout + table.stderr


def test_events_and_tail_show_real_events(platform):
    _, rpc, env = platform
    since = rpc.resource.status()["store"]["own_head"]
    tail = subprocess.Popen([sys.executable, "-m", "shared.cli", "tail", "--json", "--service", "resource",
                             "--type", "ResourceRegistered", "--count", "2", "--since", str(since)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = rpc.resource.register_resource(name="Ada", email="ada@cli.example")
        rpc.resource.update_resource(resource_id=first["id"], name="Ada Lovelace")  # another type: left out
        ready, _, _ = select.select([tail.stdout], [], [], 30)
        assert ready, "tail printed nothing"
        out = tail.stdout.readline()
        second = rpc.resource.register_resource(name="Alan", email="alan@cli.example")  # while it follows
        rest, err = tail.communicate(timeout=30)
        out += rest
    finally:
        if tail.poll() is None:
            tail.kill()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in lines] == ["ResourceRegistered", "ResourceRegistered"], err
    assert [e["stream"] for e in lines] == [f"resource-{first['id']}", f"resource-{second['id']}"]

    out = chronicle(env, "events", f"resource-{first['id']}", "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["type"] for e in events][0] == "ResourceRegistered" and len(events) >= 2
    assert events[0]["data"]["name"] == "Ada" and events[0]["metadata"]["correlation_id"]
    pretty = chronicle(env, "events", f"resource-{first['id']}")
    assert pretty.returncode == 0 and "ResourceRegistered" in pretty.stdout
    missing = chronicle(env, "events", "nosuch-1")
    assert missing.returncode == 1 and missing.stderr.startswith("chronicle: no service owns stream")
    assert "Traceback" not in missing.stderr

    # the other operator commands against the same platform
    export = chronicle(env, "export", "hours", "--from", "2030-01-01", "--to", "2030-01-31", "--format", "csv")
    assert export.returncode == 0 and export.stdout.startswith("entry_id,date,employee_id,employee_name"), \
        export.stderr
    as_json = chronicle(env, "export", "hours", "--from", "2030-01-01", "--to", "2030-01-31", "--format", "json")
    assert json.loads(as_json.stdout)["rows"] == []
    delta = chronicle(env, "export", "hours", "--since", "0", "--status", "all")  # the delta from the start, in CSV
    assert delta.returncode == 0 and delta.stdout.startswith("action,entry_id,date,"), delta.stderr
    cursor = delta.stderr.strip().rsplit(" ", 1)[-1]
    again = chronicle(env, "export", "hours", "--since", cursor, "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["next"] == cursor, again.stderr
    bad = chronicle(env, "export", "hours", "--since", "yesterday")
    assert bad.returncode == 1 and "since" in bad.stderr and "Traceback" not in bad.stderr
    backwards = chronicle(env, "export", "hours", "--from", "2030-01-31", "--to", "2030-01-01")
    assert backwards.returncode == 1 and backwards.stderr.startswith("chronicle: ValidationError validation_failed")
    assert "to_date" in backwards.stderr and len(backwards.stderr.strip().splitlines()) == 1
    dead = chronicle(env, "deliveries", "dead", "--json")
    assert dead.returncode == 0 and dead.stdout == "", dead.stderr  # nothing has died
    unknown = chronicle(env, "deliveries", "resend", "no-such-delivery")
    assert unknown.returncode == 1 and "no-such-delivery" in unknown.stderr and "Traceback" not in unknown.stderr


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    out = chronicle(dict(os.environ, PYTHONPATH=ROOT), "version")
    assert out.returncode == 0 and out.stdout.strip() == f"chronicle {version('chronicle')}"


def test_a_command_against_a_broker_that_is_not_there_is_one_line(tmp_path):
    env = dict(os.environ, AMQP_URI="amqp://guest:guest@127.0.0.1:1/", CHRONICLE_DATA_DIR=str(tmp_path),
               PYTHONPATH=ROOT)
    for args in (("status",), ("tail",), ("deliveries", "dead"), ("export", "hours", "--from", "2030-01-01",
                                                                    "--to", "2030-01-02")):
        out = chronicle(env, *args)
        assert out.returncode == 1, args
        assert out.stderr.startswith("chronicle: cannot reach the broker at amqp://guest:***@127.0.0.1:1/"), args
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
