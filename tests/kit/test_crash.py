"""Crash before publish: a service process is SIGKILLed after an append and before the publish.
After a restart the event is published, and its consumer effect happens once."""
import os
import signal
import sqlite3
import subprocess
import sys

import yaml
from nameko.exceptions import UnknownService

from shared.eventstore import open_store
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.kit.sample import WatcherService

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_counter(config, tmp_path, fault: bool):
    path = tmp_path / "counter.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in config.items()}))
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("CHRONICLE_FAULT_KILL_BEFORE_PUBLISH", None)
    if fault:
        env["CHRONICLE_FAULT_KILL_BEFORE_PUBLISH"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "nameko", "run", "--config", str(path), "tests.kit.sample:CounterService"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_crash_between_append_and_publish(isolated_amqp_uri, tmp_path):
    # The watcher does not catch up through the feed on its own (an hour between rounds): what it sees
    # after the restart can only have come through the publication.
    config = service_config(isolated_amqp_uri, tmp_path, CATCHUP_INTERVAL=3600)
    store_path = tmp_path / "counter.events.db"
    with running(config, WatcherService), rpc_proxy(config, timeout=5) as rpc:
        proc = start_counter(config, tmp_path, fault=True)
        try:
            # The command appends, then the relay kills the process before publishing.
            with rpc_proxy(config, timeout=60) as caller:
                up = wait_until(lambda: caller.counter.events_since(position=0), timeout=60, ignore=(UnknownService,))
                assert up["events"] == []
            with rpc_proxy(config, timeout=3) as caller:  # the reply may never come: do not wait long for it
                # The RPC request is redelivered to the restarted process (it was never acked),
                # so the command carries a command_id: the redelivery appends nothing.
                try:
                    caller.counter.increment(counter_id="crash", by=7, command_id="crash-1")
                except Exception:
                    pass  # the reply may die with the process; the append is what counts
            assert proc.wait(timeout=30) == -signal.SIGKILL
            events = open_store(f"sqlite:///{store_path}").read_all()
            assert [e.data["by"] for e in events] == [7]  # durably appended...
            assert rpc.watcher.seen() == []  # ...and never published

            proc = start_counter(config, tmp_path, fault=False)
            wait_until(lambda: rpc.watcher.seen(), timeout=30, message="event was not published after restart")
            # The feed serves the same event again: still one effect.
            def pulled_past_it():
                rpc.watcher.pull()
                with sqlite3.connect(tmp_path / "watcher.state.db") as db:
                    row = db.execute("SELECT position FROM checkpoints WHERE name = 'consumer:counter'").fetchone()
                return row and row[0] >= events[0].position

            wait_until(pulled_past_it, timeout=30, message="the feed catch-up did not pass the event")
            seen = rpc.watcher.seen()
            assert len(open_store(f"sqlite:///{store_path}").read_all()) == 1
            assert [(s["event_id"], s["by"]) for s in seen] == [(events[0].id, 7)]
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise
