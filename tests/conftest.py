"""Test-wide setup: eventlet's monkey patch (nameko needs it) and one AMQP vhost per run."""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402  (must come before anything imports socket/threading)

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote  # noqa: E402

import pytest  # noqa: E402

RABBIT_HOST = os.environ.get("RABBIT_HOST", "127.0.0.1")
RABBIT_PORT = int(os.environ.get("RABBIT_PORT", "5672"))


def _rabbitmqctl(*args):
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([exe, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


def _erl_list(names):
    return "[" + ", ".join(f'<<"{n}">>' for n in names) + "]"


class VhostPool:
    """Fresh AMQP vhosts for tests, made in batches by one rabbitmqctl call (each call costs ~0.5 s)."""

    BATCH = 20

    def __init__(self):
        self.run_id = uuid.uuid4().hex[:8]
        self.free, self.made = [], []

    def take(self):
        if not self.free:
            names = [f"chronicle-test-{self.run_id}-{len(self.made) + i}" for i in range(self.BATCH)]
            _rabbitmqctl(
                "eval",
                "[begin rabbit_vhost:add(V, <<\"chronicle-test\">>), "
                "rabbit_auth_backend_internal:set_permissions(<<\"guest\">>, V, <<\".*\">>, <<\".*\">>, "
                f"<<\".*\">>, <<\"chronicle-test\">>) end || V <- {_erl_list(names)}], ok.",
            )
            self.made += names
            self.free += names
        return self.free.pop(0)

    def close(self):
        if self.made:
            _rabbitmqctl("eval", f"[rabbit_vhost:delete(V, <<\"chronicle-test\">>) || V <- {_erl_list(self.made)}], ok.")


def _uri(vhost):
    return f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{quote(vhost, safe='')}"


@pytest.fixture(scope="session")
def vhost_pool():
    pool = VhostPool()
    try:
        yield pool
    finally:
        try:
            pool.close()
        except Exception:  # pragma: no cover - best effort clean-up
            pass


@pytest.fixture(scope="module")
def amqp_uri(vhost_pool):
    """A vhost of this test run's own, shared by the tests of one module: runs never see each other's
    queues, and modules never see each other's leftovers."""
    if os.environ.get("TEST_AMQP_URI"):
        return os.environ["TEST_AMQP_URI"]
    return _uri(vhost_pool.take())


@pytest.fixture
def isolated_amqp_uri(vhost_pool):
    """A vhost for one test alone (durable queues left by other tests cannot leak in)."""
    return _uri(vhost_pool.take())
