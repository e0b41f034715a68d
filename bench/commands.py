"""Commands per second through nameko RPC: a kit command (validate, load, decide, append with the expected
version, fsync) next to a bare nameko RPC that does nothing, on the same broker in the same run."""
import argparse
import os
import shutil
import subprocess
import tempfile
import time
import uuid
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from marshmallow import Schema, fields  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from shared.aggregate import Aggregate  # noqa: E402
from shared.events import EventRegistry  # noqa: E402
from shared.kit import Chronicle  # noqa: E402

events = EventRegistry()


@events.register("Ticked")
class Ticked(Schema):
    clock_id = fields.String(required=True)


class Clock(Aggregate):
    category = "clock"

    def tick(self):
        self.record("Ticked", clock_id=self.id)


class BareService:
    name = "bench_bare"

    @rpc
    def ping(self, clock_id):
        return {"clock_id": clock_id}


class KitService:
    name = "bench_kit"
    chronicle = Chronicle(categories=["clock"], events=events)

    @rpc
    def tick(self, clock_id):
        outcome = self.chronicle.execute(Clock, clock_id, lambda c: c.tick())
        return {"version": outcome.aggregate.version, "position": outcome.position}

    @rpc
    def events_since(self, **kwargs):
        return self.chronicle.events_since(**kwargs)


def _vhost():
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return None
    name = f"chronicle-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "add_vhost", name], check=True, capture_output=True)
    subprocess.run([ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True, capture_output=True)
    return name


def rate(call, n, concurrency):
    per_worker = n // concurrency
    pool = eventlet.GreenPool(concurrency)
    start = time.perf_counter()
    for _ in pool.imap(call, [per_worker] * concurrency):
        pass
    return per_worker * concurrency / (time.perf_counter() - start)


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.commands")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    vhost = _vhost()
    base = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    uri = base.rsplit("/", 1)[0] + "/" + vhost if vhost else base
    data = tempfile.mkdtemp()
    config = {"AMQP_URI": uri, "CHRONICLE_DATA_DIR": data}
    runner = ServiceRunner(config)
    runner.add_service(BareService)
    runner.add_service(KitService)
    runner.start()
    try:
        def bare(n):
            with ClusterRpcProxy(config) as p:
                for _ in range(n):
                    p.bench_bare.ping(clock_id="x")

        def kit(n):
            # One aggregate per caller (no conflicts), a fresh one every 20 commands: aggregates here are
            # loaded whole from their stream, and real ones (a project, an employee-week) are short.
            with ClusterRpcProxy(config) as p:
                for i in range(n):
                    if i % 20 == 0:
                        clock = str(uuid.uuid4())
                    p.bench_kit.tick(clock_id=clock)

        bare(20), kit(20)  # warm up
        print(f"\nCommands through nameko RPC — {args.calls} calls, {args.concurrency} concurrent callers")
        print(f"{'case':<44}{'calls/s':>10}")
        rounds = {"bare nameko RPC (baseline)": [], "kit command (load, decide, append; FULL)": []}
        for _ in range(3):
            rounds["bare nameko RPC (baseline)"].append(rate(bare, args.calls, args.concurrency))
            rounds["kit command (load, decide, append; FULL)"].append(rate(kit, args.calls, args.concurrency))
        medians = {k: sorted(v)[1] for k, v in rounds.items()}
        for label, value in medians.items():
            print(f"{label:<44}{value:>10,.0f}")
        base_rate = medians["bare nameko RPC (baseline)"]
        print(f"{'kit / bare':<44}{medians['kit command (load, decide, append; FULL)'] / base_rate:>10.2f}")
    finally:
        runner.stop()
        shutil.rmtree(data, ignore_errors=True)
        if vhost:
            subprocess.run([shutil.which("rabbitmqctl"), "delete_vhost", vhost], capture_output=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
