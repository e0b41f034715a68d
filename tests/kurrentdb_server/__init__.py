"""A protocol-level KurrentDB server for the test suite, not for production.

It serves the gRPC API that kurrentdbclient speaks, on the service stubs the client itself ships
(``kurrentdbclient.protos.v1``), over an in-memory log (``log.py``, whose docstring lists the server
semantics it keeps). The suite starts it in its own process (``running``), so it shares nothing with
the eventlet-patched test process but the socket, as a real server would. What it proves, and what
only a real server can, is written in docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running(startup_timeout: float = 30.0, log_path: str | os.PathLike | None = None):
    """Run the test server in a child process; yields its URI (``kurrentdb://127.0.0.1:PORT?Tls=false``)."""
    with tempfile.TemporaryDirectory(prefix="kurrentdb-test-") as scratch:
        port_file = os.path.join(scratch, "port")
        log_path = log_path or os.path.join(scratch, "server.log")
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.kurrentdb_server", "--port", "0", "--port-file", port_file],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            port = _wait_for_port(process, port_file, startup_timeout, log_path)
            yield f"kurrentdb://127.0.0.1:{port}?Tls=false"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_for_port(process, port_file, timeout, log_path) -> int:
    from shared.testing import wait_until

    try:
        wait_until(lambda: os.path.exists(port_file) or process.poll() is not None, timeout=timeout, interval=0.05)
    except AssertionError:
        pass
    if os.path.exists(port_file):
        with open(port_file) as written:
            return int(written.read())
    output = Path(log_path).read_text(errors="replace")[-4000:]
    raise RuntimeError(f"the KurrentDB test server did not start within {timeout}s:\n{output}")
