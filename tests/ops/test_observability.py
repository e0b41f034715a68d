"""Logs, metrics and health of a real service process (`nameko run` with deploy/config.yaml), on real RabbitMQ."""
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from shared.errors import ValidationError
from shared.testing import TEST_SIGNING_KEY, rpc_proxy, wait_until

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def resource_process(amqp_uri, tmp_path_factory):
    """The resource service as production runs it: its own process, logging as deploy/config.yaml says."""
    data_dir = tmp_path_factory.mktemp("observability")
    port = free_port()
    log_path = data_dir / "resource.log"
    env = dict(os.environ, AMQP_URI=amqp_uri, CHRONICLE_DATA_DIR=str(data_dir), METRICS_PORT=str(port),
               PYTHONPATH=ROOT, LOG_FORMAT="json", CHRONICLE_SIGNING_KEY=TEST_SIGNING_KEY)
    env.pop("CHRONICLE_SERVICE", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config", "deploy/config.yaml",
                                 "services.resource.service"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        with rpc_proxy({"AMQP_URI": amqp_uri, "CHRONICLE_DATA_DIR": str(data_dir)}, timeout=10) as rpc:
            wait_until(lambda: rpc.resource.status(), timeout=60, ignore=(Exception,),
                       message="resource did not answer")
            yield {"rpc": rpc, "port": port, "log": log_path, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def log_lines(path):
    """Every line of the log that is JSON (the eventlet deprecation banner on stderr is not ours)."""
    lines = []
    for raw in path.read_text().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(port, name, **labels):
    _, text = http_get(port, "/metrics")
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and line.split("{", 1)[1].split("}", 1)[0] == wanted:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_command_logs_a_json_line_with_its_correlation_id(resource_process):
    rpc = resource_process["rpc"]
    created = rpc.resource.register_resource(name="Ada Lovelace", email="ada@example.org", skills=["math"])
    [event] = [e for e in rpc.resource.events_since(position=created["position"] - 1)["events"]
               if e["position"] == created["position"]]
    correlation_id = event["metadata"]["correlation_id"]
    line = wait_until(lambda: next((entry for entry in log_lines(resource_process["log"])
                                    if entry.get("correlation_id") == correlation_id), None), timeout=10,
                      message="no log line carries the command's correlation id")
    assert line["service"] == "resource" and line["level"] == "INFO" and line["time"].startswith("20")
    assert line["causation_id"] == event["metadata"]["causation_id"]
    assert "register_resource ok" in line["message"]


def test_a_client_error_is_one_info_line_with_its_code_and_no_traceback(resource_process):
    rpc = resource_process["rpc"]
    with pytest.raises(ValidationError):
        rpc.resource.register_resource(name="", email="not an e-mail")
    line = wait_until(lambda: next((entry for entry in log_lines(resource_process["log"])
                                    if entry.get("code") == "validation_failed"), None), timeout=10,
                      message="the refusal was not logged with its code")
    assert line["level"] == "INFO" and line["error"] == "ValidationError"
    assert "register_resource refused" in line["message"] and "exc_info" not in line
    assert "Traceback" not in resource_process["log"].read_text()


def test_each_call_from_one_standalone_proxy_has_its_own_correlation_id(resource_process):
    rpc = resource_process["rpc"]  # one proxy, as `nameko shell` keeps one for a whole session
    first = rpc.resource.register_resource(name="Grace Hopper", email="grace@example.org", skills=[])
    second = rpc.resource.register_resource(name="Edsger Dijkstra", email="edsger@example.org", skills=[])
    events = {e["position"]: e for e in rpc.resource.events_since(position=0, limit=1000)["events"]}
    first_meta, second_meta = events[first["position"]]["metadata"], events[second["position"]]["metadata"]
    assert first_meta["correlation_id"] and second_meta["correlation_id"]
    assert first_meta["correlation_id"] != second_meta["correlation_id"]


def test_metrics_count_commands_and_events_and_show_lag(resource_process):
    rpc, port = resource_process["rpc"], resource_process["port"]
    before = metric(port, "chronicle_commands_total", service="resource", command="register_resource",
                    outcome="ok")
    appended = metric(port, "chronicle_events_appended_total", service="resource", type="ResourceRegistered")
    refused = metric(port, "chronicle_commands_total", service="resource", command="register_resource",
                     outcome="ValidationError")
    rpc.resource.register_resource(name="Barbara Liskov", email="barbara@example.org", skills=[])
    with pytest.raises(ValidationError):
        rpc.resource.register_resource(name="")
    assert metric(port, "chronicle_commands_total", service="resource", command="register_resource",
                  outcome="ok") == before + 1
    assert metric(port, "chronicle_commands_total", service="resource", command="register_resource",
                  outcome="ValidationError") == refused + 1
    assert metric(port, "chronicle_events_appended_total", service="resource", type="ResourceRegistered") \
        == appended + 1
    assert metric(port, "chronicle_command_seconds_count", service="resource", command="register_resource") \
        >= before + 2
    head = rpc.resource.status()["store"]["head"]
    wait_until(lambda: metric(port, "chronicle_store_head", service="resource") == head, timeout=10)
    wait_until(lambda: metric(port, "chronicle_relay_lag", service="resource") == 0, timeout=10)
    wait_until(lambda: metric(port, "chronicle_events_published_total", service="resource") >= 1, timeout=10)
    _, text = http_get(port, "/metrics")
    assert 'chronicle_projection_lag{projection="resources",service="resource"}' in text


def test_liveness_and_readiness(resource_process):
    port = resource_process["port"]
    status, body = http_get(port, "/healthz")
    assert status == 200 and json.loads(body)["alive"] is True
    status, body = http_get(port, "/readyz")
    assert status == 200 and json.loads(body)["ready"] is True and json.loads(body)["store"] == "ok"


def test_the_status_rpc_says_where_the_service_stands(resource_process):
    rpc = resource_process["rpc"]
    rpc.resource.register_resource(name="Alan Turing", email="alan@example.org", skills=[])
    status = wait_until(lambda: (s := rpc.resource.status())["relay"]["lag"] == 0 and s, timeout=10)
    assert status["service"] == "resource"
    assert status["relay"]["checkpoint"] == status["store"]["own_head"] > 0
    assert set(status["projections"]) and all(p["lag"] >= 0 for p in status["projections"].values())
    assert status["parked"] == {}


def test_status_takes_no_arguments(resource_process):
    with pytest.raises(ValidationError) as exc:
        resource_process["rpc"].resource.status(colour="red")
    assert "colour" in exc.value.errors
