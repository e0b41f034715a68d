"""What ``chronicle run`` does with its service processes: start each in a session of its own, restart one that
dies (with backoff), and stop them all once, with SIGTERM, bounded.

Each child leads its own process group, so a Ctrl-C at the terminal reaches ``chronicle run`` only: the children
are stopped once, by us, instead of getting the terminal's SIGINT and then our SIGTERM (twice stopped, ~80 s).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
STABLE_AFTER = 30.0  # a child that ran this long starts its backoff afresh when it dies


def redact(uri: str) -> str:
    """The URI without its password, fit for a log line."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def broker_problem(uri: str, timeout: float = 3.0) -> str | None:
    """Why the broker at ``uri`` cannot be reached (one line), or None when it can. py-amqp directly: kombu's
    connect retries a refused connection for ~2 s before it says so."""
    import amqp
    from kombu import Connection

    params = Connection(uri)  # only to parse the URI as nameko and kombu do
    try:
        conn = amqp.Connection(f"{params.hostname}:{params.port or 5672}", userid=params.userid,
                               password=params.password, virtual_host=params.virtual_host,
                               ssl=params.ssl or False, connect_timeout=timeout)
        try:
            conn.connect()
        except BaseException:
            conn.collect()
            raise
        conn.close()
    except Exception as exc:  # refused, unknown host, bad credentials, unknown vhost: all one line
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"{type(exc).__name__}: {reason}"
    return None


@dataclass
class Child:
    name: str
    argv: list
    env: dict
    log_path: str
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None
    history: list = field(default_factory=list)  # exit codes, newest last


class Supervisor:
    def __init__(self, children, cwd, say=None):
        self.children = list(children)
        self.cwd = cwd
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))

    def start(self, child: Child):
        log = open(child.log_path, "ab")
        try:
            child.proc = subprocess.Popen(child.argv, cwd=self.cwd, env=child.env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()  # the child holds its own descriptor
        child.started_at, child.restart_at = time.monotonic(), None

    def start_all(self):
        for child in self.children:
            self.start(child)

    def check(self):
        """Restart the children that died, each after its backoff. Call it every fraction of a second."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self.say(f"chronicle run: restarting {child.name} (restart {child.restarts})")
                    self.start(child)
                continue
            code = child.proc.poll() if child.proc else None
            if code is None:
                continue
            child.history.append(code)
            if now - child.started_at >= STABLE_AFTER:
                child.backoff = BACKOFF_FIRST
            delay, child.backoff = child.backoff, min(child.backoff * 2, BACKOFF_MAX)
            child.restart_at = now + delay
            self.say(f"chronicle run: {child.name} exited with code {code}; restarting in {delay:.0f}s"
                     f" (log: {child.log_path})")

    def stop(self, timeout: float = 8.0):
        """SIGTERM each child once, wait up to ``timeout`` seconds in all, then SIGKILL what is left."""
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            _signal_group(child.proc, signal.SIGTERM)
        deadline, killed = time.monotonic() + timeout, []
        for child in running:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.proc, signal.SIGKILL)
                child.proc.wait()
                killed.append(child.name)
        return killed


def _signal_group(proc, signum):
    try:
        os.killpg(proc.pid, signum)  # the child leads its group: anything it started goes too
    except ProcessLookupError:
        pass
