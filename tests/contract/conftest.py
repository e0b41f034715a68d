"""Backends for the event store contract suite: SQLite, and KurrentDB through the real client.

The KurrentDB leg always runs. Its server is, in this order:
1. a real server at ``EVENTSTORE_TEST_URI`` (e.g. ``kurrentdb://127.0.0.1:2113?Tls=false``);
2. a real server started with pytest-docker from ``docker-compose.yml`` beside this file, when a
   Docker engine answers (pytest-docker's fixtures are only requested then);
3. otherwise the protocol-level test server (``tests/kurrentdb_server``) in a child process: the real
   client and adapter against an in-memory log (see docs/architecture.md for what that proves).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.eventstore import open_store
from tests import kurrentdb_server

BACKENDS = ["sqlite", pytest.param("kurrentdb", marks=pytest.mark.kurrentdb)]


def _docker_engine_reachable() -> bool:
    """A Docker engine answers and compose is there; bounded, since a dead DOCKER_HOST can hang."""
    if not shutil.which("docker"):
        return False
    for command in (["docker", "info", "--format", "{{.ServerVersion}}"], ["docker", "compose", "version"]):
        try:
            subprocess.run(
                command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=15
            )
        except (OSError, subprocess.SubprocessError):
            return False
    return True


def _kurrentdb_answers(uri: str) -> bool:
    from shared.eventstore.kurrent import KurrentEventStore

    try:
        store = KurrentEventStore(uri, timeout=5)
    except Exception:
        return False
    try:
        store.head_position()
        return True
    except Exception:
        return False
    finally:
        try:
            store.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def docker_compose_file():
    """pytest-docker: our compose file, beside this conftest."""
    return str(Path(__file__).with_name("docker-compose.yml"))


@pytest.fixture(scope="session")
def kurrentdb(request, tmp_path_factory):
    """The KurrentDB server of this run: ``(uri, real)``, ``real`` False for the test server."""
    uri = os.environ.get("EVENTSTORE_TEST_URI")
    if uri:
        yield uri, True
        return
    if not _docker_engine_reachable():
        with kurrentdb_server.running(log_path=tmp_path_factory.mktemp("kurrentdb") / "server.log") as uri:
            yield uri, False
        return
    services = request.getfixturevalue("docker_services")
    host = request.getfixturevalue("docker_ip")
    uri = f"kurrentdb://{host}:{services.port_for('kurrentdb', 2113)}?Tls=false"
    services.wait_until_responsive(check=lambda: _kurrentdb_answers(uri), timeout=180, pause=1.0)
    yield uri, True


@pytest.fixture(scope="session")
def kurrentdb_uri(kurrentdb):
    return kurrentdb[0]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """One event store per backend: a fresh SQLite file, or the shared KurrentDB server."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'events.db'}"
    else:
        uri = request.getfixturevalue("kurrentdb_uri")
    backend = open_store(uri)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def store_uri(store):
    """The URI that opens the same store again, e.g. from another process."""
    from shared.eventstore.sqlite import SQLiteEventStore

    if isinstance(store, SQLiteEventStore):
        return f"sqlite:///{store.path}"
    return store.uri
