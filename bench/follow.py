"""Benchmark 5b: on KurrentDB, how long an append made outside the service's process (another replica's command)
waits before the relay publishes it: the loops polling every ``POLL_INTERVAL`` (0.5 s) next to the same loops woken
by the store's catch-up subscription (``Chronicle._follow_loop``).

It runs against the protocol-level KurrentDB test server of tests/ (no real server can be had here): the figures
show the mechanism (a poll's wait against a push), not a real server's latency.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from bench.platform import drop_vhost, make_vhost, percentile, report  # noqa: E402
from shared import config as cfg  # noqa: E402
from shared.eventstore import open_store  # noqa: E402
from shared.eventstore.base import NO_STREAM, NewEvent  # noqa: E402
from shared.eventstore.kurrent import KurrentEventStore  # noqa: E402
from shared.testing import running, service_config  # noqa: E402
from tests import kurrentdb_server  # noqa: E402
from tests.kit.sample import CounterService  # noqa: E402


def waits(uri, amqp_uri, data_dir, samples, pushes) -> list[float]:
    KurrentEventStore.pushes = pushes
    config = service_config(amqp_uri, data_dir, EVENTSTORE_URI=uri, POLL_INTERVAL=0.5, LEADER_RETRY_SECONDS=0.2)
    seconds = []
    with running(config, CounterService, check_contracts=False) as runner:
        [container] = runner.containers
        kit = next(d for d in container.dependencies if d.attr_name == "chronicle")
        while not kit.leadership.active.is_set():
            eventlet.sleep(0.05)
        other_replica = open_store(uri)
        try:
            for _ in range(samples):
                eventlet.sleep(random.uniform(0.05, 0.5))  # anywhere in the poll's cycle
                counter = str(uuid.uuid4())
                started = time.perf_counter()
                position = other_replica.append(f"counter-{counter}", [NewEvent(
                    type="CounterIncremented", data={"counter_id": counter, "by": 1, "note": ""},
                    schema_version=2)], NO_STREAM)
                while kit.relay.position() < position:
                    eventlet.sleep(0.001)
                seconds.append(time.perf_counter() - started)
        finally:
            other_replica.close()
    return seconds


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.follow")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args(argv)
    import tempfile

    vhost = make_vhost()
    base = cfg.amqp_uri()
    amqp_uri = base.rsplit("/", 1)[0] + "/" + vhost if vhost else base
    try:
        with tempfile.TemporaryDirectory() as tmp, kurrentdb_server.running(log_path=f"{tmp}/server.log") as uri:
            polled = waits(uri, amqp_uri, f"{tmp}/polled", args.samples, pushes=False)
            pushed = waits(uri, amqp_uri, f"{tmp}/pushed", args.samples, pushes=True)
    finally:
        drop_vhost(vhost)
    rows = [(f"relay wait, polling every 0.5 s ({args.samples} appends by another client)", None,
             percentile(polled, 50), percentile(polled, 99)),
            ("relay wait, woken by the store's subscription", None, percentile(pushed, 50), percentile(pushed, 99))]
    report("follow", "KurrentDB (test server): an append by another replica until the relay published it", rows,
           {"p50 polling / p50 subscription": percentile(polled, 50) / percentile(pushed, 50)})


if __name__ == "__main__":
    main(sys.argv[1:])
