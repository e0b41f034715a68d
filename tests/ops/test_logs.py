"""The log format and context, without a broker: what each line carries, and what it never mixes up."""
import json
import logging

import eventlet

from shared import logs
from shared.errors import NotFound


def record(message="hello", exc=None, args=()):
    exc_info = (type(exc), exc, None) if exc else None
    return logging.LogRecord("nameko.containers", logging.ERROR, __file__, 1, message, args, exc_info)


def formatted(rec, format="json"):
    logs.ContextFilter().filter(rec)
    return logs.formatter(format).format(rec)


def test_a_json_line_carries_time_level_service_and_the_bound_correlation():
    def worker():
        logs.bind(service="project", correlation_id="c-1", causation_id="k-1")
        return json.loads(formatted(record()))

    line = eventlet.spawn(worker).wait()
    assert line["level"] == "ERROR" and line["service"] == "project" and line["message"] == "hello"
    assert line["correlation_id"] == "c-1" and line["causation_id"] == "k-1" and line["time"].endswith("+00:00")


def test_concurrent_greenlets_never_mix_their_correlations():
    def worker(n):
        logs.bind(service="project", correlation_id=f"c-{n}", causation_id=f"k-{n}")
        eventlet.sleep(0.01)  # the other worker binds meanwhile
        return json.loads(formatted(record()))["correlation_id"]

    first, second = eventlet.spawn(worker, 1), eventlet.spawn(worker, 2)
    assert (first.wait(), second.wait()) == ("c-1", "c-2")
    assert eventlet.spawn(lambda: json.loads(formatted(record())).get("correlation_id")).wait() is None


def test_a_client_error_is_info_with_its_code_and_no_traceback():
    try:
        raise NotFound("project p-1 not found", code="project.not_found")
    except NotFound as exc:
        rec = logging.LogRecord("nameko.containers", logging.ERROR, __file__, 1, "error handling worker %s: %s",
                                ("ctx", exc), (NotFound, exc, exc.__traceback__))
    line = json.loads(formatted(rec))
    assert line["level"] == "INFO" and line["code"] == "project.not_found" and line["error"] == "NotFound"
    assert "exc_info" not in line and "Traceback" not in json.dumps(line)


def test_log_format_text_is_one_readable_line():
    def worker():
        logs.bind(service="timesheet", correlation_id="c-9", causation_id="k-9")
        return formatted(record("logged"), "text")

    line = eventlet.spawn(worker).wait()
    assert line.startswith("[timesheet] ") and "ERROR" in line and "logged" in line and "correlation c-9" in line
    assert "\n" not in line and not line.startswith("{")


def test_each_call_of_a_standalone_proxy_starts_its_own_correlation():
    shell = "standalone_rpc_proxy.call.0b7d"  # `nameko shell` keeps this one for every call
    assert logs.correlation_of([shell, "project.create_project.1"]) == ("project.create_project.1",
                                                                         "project.create_project.1")
    assert logs.correlation_of([shell, "project.create_project.1", "resource.get.2"]) == (
        "project.create_project.1", "resource.get.2")
    assert logs.correlation_of(["gateway.post.7", "project.create_project.8"]) == ("gateway.post.7",
                                                                                  "project.create_project.8")
