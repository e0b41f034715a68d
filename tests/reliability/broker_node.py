"""A private RabbitMQ node for tests that stop and start the broker.

The shared node on 5672 is never touched: this one has its own name, AMQP and distribution ports, data
and log directories and Erlang cookie (``HOME``), all under a temporary directory, and its own config
file (the system one pins the listener to 5672). It registers with the machine's epmd like any node.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

# The real scripts: the /usr/sbin wrappers switch to the rabbitmq user (and its cookie and HOME).
_SCRIPT_DIRS = ("/usr/lib/rabbitmq/bin",)


def rabbitmq_scripts() -> Path | None:
    for directory in _SCRIPT_DIRS:
        if os.access(os.path.join(directory, "rabbitmq-server"), os.X_OK):
            return Path(directory)
    found = shutil.which("rabbitmq-server")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RabbitNode:
    """``start()`` boots the node and waits until it serves AMQP; ``stop_app()``/``start_app()`` are the
    outage; ``stop()`` halts it (idempotent, and it kills the node's process if halting fails)."""

    def __init__(self, base_dir: Path, boot_timeout: float = 90.0):
        self.scripts = rabbitmq_scripts()
        if self.scripts is None:
            raise RuntimeError("rabbitmq-server is not installed")
        self.base = Path(base_dir)
        self.name = f"chronicle-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        while self.dist_port == self.port:
            self.dist_port = free_port()
        self.boot_timeout = boot_timeout
        self.process = None
        self.boot_seconds = None
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        self.env = dict(
            os.environ,
            HOME=str(self.base),  # the Erlang cookie of this node and of our rabbitmqctl calls
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.base / "rabbit.pid"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),  # not the system one (5672's node)
        )

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args, timeout=60.0) -> str:
        result = subprocess.run([str(self.scripts / "rabbitmqctl"), "-n", self.name, *args], env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def start(self):
        started = time.monotonic()
        log = open(self.base / "server.out", "wb")
        self.process = subprocess.Popen([str(self.scripts / "rabbitmq-server")], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + self.boot_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the test broker exited at boot: {self.tail()}")
            try:
                # await_startup fails at once until the node is registered with epmd, then waits for the boot.
                self.ctl("await_startup", "--timeout", str(int(self.boot_timeout)), timeout=self.boot_timeout + 10)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.boot_seconds = time.monotonic() - started
        return self

    def stop_app(self):
        self.ctl("stop_app")

    def start_app(self):
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", "60", timeout=70)

    def queues(self) -> dict[str, tuple[int, int]]:
        """{queue name: (consumers, messages)}."""
        rows = self.ctl("list_queues", "-q", "--no-table-headers", "name", "consumers", "messages")
        out = {}
        for line in rows.splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                out[parts[0]] = (int(parts[1]), int(parts[2]))
        return out

    def tail(self, lines=30) -> str:
        path = self.base / "server.out"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self):
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                self.ctl("stop", timeout=60)
                self.process.wait(timeout=30)
        except Exception:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)  # the session we started for the node, nothing else
                self.process.wait(timeout=30)
        finally:
            self.process = None
