"""What the benchmarks share: the real services in their own ``nameko run`` processes on a vhost of their own,
CPU time per process from /proc, percentiles, and results printed beside their baseline and kept as JSON."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

import yaml

from shared.config import dev_signing_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")


def make_vhost() -> str | None:
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return None
    name = f"chronicle-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "add_vhost", name], check=True, capture_output=True)
    subprocess.run([ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True, capture_output=True)
    return name


def drop_vhost(name):
    if name:
        subprocess.run([shutil.which("rabbitmqctl"), "delete_vhost", name], capture_output=True)


# Bare nameko baselines a Platform can run beside the services: name -> ("module:Class", its RPC service name).
BASELINES = {
    "echo": ("bench.echo:Echo", "bench_echo"),
    "floor": ("bench.floor:Floor", "bench_floor"),
    **{f"floor follower {i}": (f"bench.floor:FloorFollower{i}", f"bench_floor_follower_{i}") for i in (1, 2, 3)},
}


class Platform:
    """The named services, and the named ``BASELINES``, as separate processes."""

    def __init__(self, services, baselines=(), prepare=None, **settings):
        """``prepare(data_dir)`` runs before the services start (e.g. to fill a store). ``baselines``: names in
        ``BASELINES``, where "floor" is the floor and its three followers (bench/floor.py)."""
        self.services = list(services)
        self.baselines = [b for name in baselines for b in BASELINES if b == name or b.startswith(f"{name} ")]
        self.prepare = prepare
        self.settings = settings

    def __enter__(self):
        self.vhost = make_vhost()
        base = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
        uri = base.rsplit("/", 1)[0] + "/" + self.vhost if self.vhost else base
        self.data = tempfile.mkdtemp(prefix="chronicle-bench-")
        if self.prepare is not None:
            self.prepare(self.data)
        signing_key = os.environ.get("CHRONICLE_SIGNING_KEY") or dev_signing_key(self.data)  # services need one
        self.config = {"AMQP_URI": uri, "CHRONICLE_DATA_DIR": self.data, "CHRONICLE_SIGNING_KEY": signing_key,
                       **self.settings}
        path = os.path.join(self.data, "config.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(self.config, f)
        env = dict(os.environ, PYTHONPATH=ROOT)
        modules = {name: f"services.{name}.service" for name in self.services}
        modules.update({name: BASELINES[name][0] for name in self.baselines})
        self.procs = {}
        for name, module in modules.items():
            log = open(os.path.join(self.data, f"{name}.log"), "ab")
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config", path, module],
                                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_answering()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_until_answering(self, timeout=600.0):
        from nameko.exceptions import RpcTimeout, UnknownService
        from nameko.standalone.rpc import ClusterRpcProxy

        from shared.testing import as_caller

        deadline = time.monotonic() + timeout
        with ClusterRpcProxy(self.config, timeout=5, context_data=as_caller(self.config)) as rpc:
            for name in self.procs:
                while True:
                    try:
                        if name in BASELINES:
                            getattr(rpc, BASELINES[name][1]).ping()
                        else:
                            getattr(rpc, name).events_since(position=0, limit=1)
                        break
                    except (UnknownService, RpcTimeout):
                        if self.procs[name].poll() is not None or time.monotonic() > deadline:
                            raise RuntimeError(f"{name} did not start; see {self.data}/{name}.log") from None
                        time.sleep(0.1)

    def pids(self) -> dict:
        return {name: proc.pid for name, proc in self.procs.items()}

    def __exit__(self, *exc):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_vhost(self.vhost)
        shutil.rmtree(self.data, ignore_errors=True)
        return False


def cpu_seconds(pids: dict) -> dict:
    """User plus system CPU seconds each process has used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return out


def rss_mb(pid=None) -> float:
    """Resident memory of a process (default: this one), in MB."""
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def timed(call, count) -> list[float]:
    """Call ``call(n)`` for n in range(count); each call's seconds."""
    seconds = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        seconds.append(time.perf_counter() - start)
    return seconds


def percentile(values, p) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def report(name, title, rows, ratios, extra=None):
    """Print rows (label, per second, p50 s, p99 s) and the ratios to their baselines; keep them as JSON."""
    print(f"\n{title}")
    print(f"{'case':<70}{'per s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for label, per_second, p50, p99 in rows:
        cells = [f"{per_second:>12,.0f}" if per_second is not None else f"{'':>12}",
                 f"{p50 * 1000:>10.2f}" if p50 is not None else f"{'':>10}",
                 f"{p99 * 1000:>10.2f}" if p99 is not None else f"{'':>10}"]
        print(f"{label:<70}{''.join(cells)}")
    for label, value in ratios.items():
        print(f"  ratio: {label:<77}{value:>8.2f}")
    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with open(os.path.join(RESULTS, f"{name}-{stamp}.json"), "w") as f:
        json.dump({"benchmark": name, "title": title, "at": stamp, "cores": os.cpu_count(),
                   "rows": [{"case": r[0], "per_second": r[1], "p50_s": r[2], "p99_s": r[3]} for r in rows],
                   "ratios": ratios, **(extra or {})}, f, indent=2)
