"""Structured logs: one JSON object per line on stdout (``LOG_FORMAT=text`` for a terminal).

Every line carries the time, the level, the service and the logger; a line written while a command or an
event is handled also carries its ``correlation_id`` and ``causation_id`` (bound per greenlet, so concurrent
workers never mix them up). Client errors (ValidationError, NotFound, Conflict, RuleViolation, Forbidden) are
expected outcomes: they are logged at INFO with their code, never with a traceback.

nameko sets logging up from the ``LOGGING`` section of its config (deploy/config.yaml), which names the
formatter and the filter below.
"""
from __future__ import annotations

import contextvars
import logging
import os

from pythonjsonlogger.json import JsonFormatter

from .errors import ChronicleError

STANDALONE_PROXY = "standalone_rpc_proxy."

# Per greenlet (greenlet gives each its own contextvars context): what the current line is about.
_bound: contextvars.ContextVar[dict | None] = contextvars.ContextVar("chronicle_log_context", default=None)
_process_services: set[str] = set()


def correlation_of(call_id_stack) -> tuple[str | None, str | None]:
    """(correlation_id, causation_id) of a nameko call id stack. A standalone proxy (``nameko shell``, a
    script) keeps one call id for all its calls, so the first call id that is not the proxy's starts the
    correlation: each call from a shell is a correlation of its own."""
    stack = list(call_id_stack or ())
    if not stack:
        return None, None
    own = [call_id for call_id in stack if not call_id.startswith(STANDALONE_PROXY)] or stack
    return own[0], stack[-1]


def bind(**fields):
    """Make ``fields`` part of every line this greenlet logs from now on (replacing what was bound)."""
    _bound.set({k: v for k, v in fields.items() if v is not None})


def bind_worker(worker_ctx):
    correlation_id, causation_id = correlation_of(worker_ctx.call_id_stack)
    entrypoint = worker_ctx.entrypoint
    bind(service=worker_ctx.service_name, correlation_id=correlation_id, causation_id=causation_id,
         entrypoint=f"{worker_ctx.service_name}.{getattr(entrypoint, 'method_name', '?')}")


def bind_event(service, event):
    """Lines about an event (a reactor acting on it, a consumer recording it) carry its correlation."""
    if isinstance(event, dict):
        event_id, event_type, metadata = event.get("id"), event.get("type"), event.get("metadata") or {}
    else:
        event_id, event_type, metadata = event.id, event.type, event.metadata or {}
    metadata = metadata if isinstance(metadata, dict) else {}
    bind(service=service, correlation_id=metadata.get("correlation_id") or event_id, causation_id=event_id,
         event_id=event_id, event_type=event_type)


def service_started(name: str):
    """Lines outside any worker (start-up, shutdown) name the service when the process runs only one."""
    _process_services.add(name)


def _process_service():
    if os.environ.get("CHRONICLE_SERVICE"):
        return os.environ["CHRONICLE_SERVICE"]
    return next(iter(_process_services)) if len(_process_services) == 1 else None


class ContextFilter(logging.Filter):
    """Adds the bound fields to each record, and logs client errors as the expected outcomes they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if getattr(record, "service", None) is None:
            service = _process_service()
            if service:
                record.service = service
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ChronicleError):
            _as_expected(record, exc)
        return True


def _as_expected(record, exc):
    record.levelno, record.levelname = logging.INFO, "INFO"
    record.exc_info, record.exc_text, record.stack_info = None, None, None
    record.error, record.code = type(exc).__name__, exc.code
    worker_ctx = record.args[0] if isinstance(record.args, tuple) and record.args else None
    if hasattr(worker_ctx, "entrypoint"):  # nameko's "error handling worker <ctx>: <exc>"
        record.msg = "%s refused: %s %s: %s"
        record.args = (f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}", type(exc).__name__,
                       exc.code, exc)


class TextFormatter(logging.Formatter):
    """For a terminal: time, level, service, logger, message, then the correlation when there is one."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record):
        line = super().format(record)
        service = getattr(record, "service", None)
        if service:
            line = f"[{service}] {line}"
        if getattr(record, "correlation_id", None):
            line += f"  (correlation {record.correlation_id}, causation {record.causation_id})"
        return line


def formatter(format: str = "json") -> logging.Formatter:
    """The formatter named by ``LOG_FORMAT``: ``json`` (default) or ``text``."""
    if str(format).strip().lower() == "text":
        return TextFormatter()
    return JsonFormatter(["levelname", "name", "message"], rename_fields={"levelname": "level", "name": "logger"},
                         timestamp="time", json_ensure_ascii=False)


def configure(level="INFO", format=None):
    """The same set-up outside nameko (``chronicle`` commands, tests that run services in-process)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(format or os.environ.get("LOG_FORMAT", "json")))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler
