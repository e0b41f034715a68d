"""The Python client (clients/python) in a virtualenv of its own, without the server: build/client-venv, made once
per clone (and again when the client's pyproject.toml changes)."""
import hashlib
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_DIR = os.path.join(ROOT, "clients", "python")
VENV = os.path.join(ROOT, "build", "client-venv")


def _installed_stamp() -> str:
    with open(os.path.join(CLIENT_DIR, "pyproject.toml"), "rb") as f:
        return os.path.join(VENV, f".installed-{hashlib.sha256(f.read()).hexdigest()[:16]}")


@pytest.fixture(scope="session")
def client_venv() -> str:
    """The client virtualenv's bin directory. The client is installed editable: its code is read from the
    checkout, so only a change of its dependencies reinstalls."""
    stamp = _installed_stamp()
    bin_dir = os.path.join(VENV, "bin")
    if not os.path.exists(stamp):
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
        subprocess.run([os.path.join(bin_dir, "pip"), "install", "-q", "-e", f"{CLIENT_DIR}[test]"], check=True,
                       timeout=600)
        open(stamp, "w").close()
    return bin_dir


def client_env(config: dict, **extra) -> dict:
    """The environment of a client process: the platform's broker and signing key, and nothing of the server's
    virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(AMQP_URI=config["AMQP_URI"], CHRONICLE_SIGNING_KEY=config["CHRONICLE_SIGNING_KEY"],
               PYTHONWARNINGS="ignore::DeprecationWarning")
    env.update({k: str(v) for k, v in extra.items()})
    return env
