"""The floor under ``log_time``: the fewest moving parts that give its guarantees, in bare nameko, no kit.

- ``bench_floor.log``, an RPC that appends one row to its own SQLite file (WAL, ``synchronous=FULL``: durable
  before the reply, as a command's events are) and publishes one event with nameko's dispatcher (persistent, with a
  publisher confirm: the relay's at-least-once);
- three services, as many as follow ``TimeLogged``, each of which records the event in its own SQLite file
  (``FULL``: durable before the ack, as a consumer records a foreign event).

No validation, no identity, no signature, no schema, no read model, no feed: what is left is the transport and
the disk that any design with these guarantees pays on this machine. ``bench.logtime`` runs it beside the echo.
"""
import os
import sqlite3
import threading

from nameko.dependency_providers import Config
from nameko.events import EventDispatcher, event_handler
from nameko.rpc import rpc


class _Table:
    """One SQLite file per service; a lock, as nameko runs workers concurrently."""

    def __init__(self, directory, name):
        self.conn = sqlite3.connect(os.path.join(directory, f"floor-{name}.db"), isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS events (position INTEGER PRIMARY KEY, data TEXT)")
        self.lock = threading.Lock()

    def append(self, data):
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO events (data) VALUES (?)", (data,))
            self.conn.execute("COMMIT")


_tables = {}


def table(config, name):
    if name not in _tables:
        _tables[name] = _Table(config["CHRONICLE_DATA_DIR"], name)
    return _tables[name]


class Floor:
    name = "bench_floor"
    config = Config()
    dispatch = EventDispatcher()

    @rpc
    def log(self, **kwargs):
        data = repr(sorted(kwargs.items()))
        table(self.config, self.name).append(data)
        self.dispatch("logged", kwargs)
        return kwargs

    @rpc
    def ping(self):
        return True


def _follower(service_name):
    class Follower:
        name = service_name
        config = Config()

        @event_handler("bench_floor", "logged")
        def record(self, payload):
            table(self.config, self.name).append(repr(sorted(payload.items())))

        @rpc
        def ping(self):  # answers once the service runs, so its queue is bound before the benchmark starts
            return True

    Follower.__name__ = Follower.__qualname__ = service_name
    return Follower


FloorFollower1, FloorFollower2, FloorFollower3 = (_follower(f"bench_floor_follower_{i}") for i in (1, 2, 3))
