"""Configuration from environment variables (nameko's YAML config may override them)."""
from __future__ import annotations

import os
import secrets
import time

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


def _get(config, key, default=None):
    value = (config or {}).get(key)
    if value in (None, ""):
        value = os.environ.get(key)
    return default if value in (None, "") else value


def amqp_uri(config=None) -> str:
    return _get(config, "AMQP_URI", DEFAULT_AMQP_URI)


def data_dir(config=None) -> str:
    return _get(config, "CHRONICLE_DATA_DIR", "./var")


def eventstore_uri(service: str, config=None) -> str:
    """EVENTSTORE_URI, or one SQLite file per service under the data dir.

    A ``{service}`` placeholder in the URI is replaced by the service name.
    """
    uri = _get(config, "EVENTSTORE_URI")
    if not uri:
        uri = f"sqlite:///{os.path.abspath(os.path.join(data_dir(config), service + '.events.db'))}"
        synchronous = _get(config, "SQLITE_SYNCHRONOUS")  # FULL unless told otherwise
        if synchronous:
            uri += f"?synchronous={synchronous}"
    return uri.replace("{service}", service)


def views_path(service: str, config=None) -> str:
    """The SQLite file holding a service's read models and their checkpoints (disposable)."""
    return os.path.abspath(os.path.join(data_dir(config), service + ".views.db"))


def state_path(service: str, config=None) -> str:
    """The SQLite file holding what must outlive the read models: relay, consumer and reactor checkpoints and
    parked events."""
    return os.path.abspath(os.path.join(data_dir(config), service + ".state.db"))


def identity_store_uri(config=None) -> str:
    """Where tokens are issued and revoked: the event store of the platform's ``identity`` (with the SQLite
    default, ``identity.events.db`` under the data dir; with KurrentDB, the same server)."""
    return eventstore_uri("identity", config)


def token_key(config=None) -> str:
    """The secret that signs and verifies bearer tokens: ``CHRONICLE_TOKEN_KEY``. When it is not set (a local
    run), ``<data dir>/token.key``, shared by the services and the ``chronicle`` command on that data dir: a
    development convenience, never for production."""
    return str(_get(config, "CHRONICLE_TOKEN_KEY") or dev_secret(data_dir(config), "token.key", "CHRONICLE_TOKEN_KEY"))


def gateway_address(config=None) -> str:
    return _get(config, "GATEWAY_ADDRESS", "127.0.0.1:8000")


def number(config, key, default: float) -> float:
    return float(_get(config, key, default))


def flag(config, key, default=False) -> bool:
    value = _get(config, key, None)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def dev_secret(directory: str, filename: str, setting: str) -> str:
    """DEVELOPMENT ONLY: a random secret kept in ``<directory>/<filename>`` (mode 0600), made once and then shared
    by every process on that data dir, for a local run where ``setting`` is not set. A deployment sets its own."""
    path = os.path.join(os.path.abspath(directory), filename)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be writing it this instant
        with open(path) as f:
            key = f.read().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it or set {setting}")


def dev_signing_key(data_dir: str) -> str:
    """DEVELOPMENT ONLY: the signing key in ``<data dir>/signing.key``, for ``chronicle run`` when
    CHRONICLE_SIGNING_KEY is not set."""
    return dev_secret(data_dir, "signing.key", "CHRONICLE_SIGNING_KEY")


def signing_keys(config=None) -> list[str]:
    """``CHRONICLE_SIGNING_KEY``: the key every relay signs with and every consumer verifies (see
    shared/signing.py); several keys separated by commas during a rotation, the first one signs."""
    from .signing import parse_keys

    return parse_keys(_get(config, "CHRONICLE_SIGNING_KEY"))
