import os

import pytest

from shared import config
from shared.eventstore import open_store
from shared.eventstore.sqlite import SQLiteEventStore


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in ("AMQP_URI", "CHRONICLE_DATA_DIR", "EVENTSTORE_URI", "GATEWAY_ADDRESS", "SQLITE_SYNCHRONOUS"):
        monkeypatch.delenv(key, raising=False)


def test_defaults():
    assert config.amqp_uri() == "amqp://guest:guest@127.0.0.1:5672/"
    assert config.gateway_address() == "127.0.0.1:8000"
    assert config.eventstore_uri("project") == f"sqlite:///{os.path.abspath('./var/project.events.db')}"


def test_environment_and_nameko_config(monkeypatch, tmp_path):
    monkeypatch.setenv("CHRONICLE_DATA_DIR", str(tmp_path))
    assert config.eventstore_uri("timesheet") == f"sqlite:///{tmp_path}/timesheet.events.db"
    monkeypatch.setenv("EVENTSTORE_URI", "kurrentdb://db:2113?Tls=false")
    assert config.eventstore_uri("timesheet") == "kurrentdb://db:2113?Tls=false"
    # nameko's YAML config wins over the environment; a {service} placeholder is filled in
    assert config.eventstore_uri("resource", {"EVENTSTORE_URI": "sqlite:////x/{service}.db"}) == "sqlite:////x/resource.db"


def test_sqlite_synchronous_is_full_unless_configured(monkeypatch, tmp_path):
    monkeypatch.setenv("CHRONICLE_DATA_DIR", str(tmp_path))
    store = open_store(config.eventstore_uri("project"))
    assert isinstance(store, SQLiteEventStore)
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    monkeypatch.setenv("SQLITE_SYNCHRONOUS", "NORMAL")
    assert open_store(config.eventstore_uri("other"))._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ValueError):
        open_store(f"sqlite:///{tmp_path}/bad.db?synchronous=SOMETIMES")
    with pytest.raises(ValueError):
        open_store("postgres://nope")
