"""Benchmark 5: how long a change the project service appends takes to show in the timesheet service's read model,
when the platform is idle and under benchmark 1's ``log_time`` load.

A sample renames a project. Its start is the event's ``recorded_at`` in the project's store; its end is when the
timesheet's read model (its SQLite views file, polled every millisecond) shows the new name. Both clocks are this
machine's.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
import uuid
import warnings
from datetime import datetime, timezone

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.logtime import log_args, set_up  # noqa: E402
from bench.platform import Platform, percentile, report  # noqa: E402
from shared.testing import as_caller  # noqa: E402

SERVICES = ("resource", "project", "timesheet", "notification")


def sample(rpc, platform, project_id, n, timeout=10.0) -> float:
    name = f"Bench {uuid.uuid4().hex[:8]}"
    rpc.project.update_project(project_id=project_id, name=name, command_id=f"bench:rename:{uuid.uuid4()}")
    views = sqlite3.connect(os.path.join(platform.data, "timesheet.views.db"), timeout=5)
    store = sqlite3.connect(os.path.join(platform.data, "project.events.db"), timeout=5)
    try:
        deadline = time.monotonic() + timeout
        while True:
            row = views.execute("SELECT name FROM ts_projects WHERE project_id = ?", (project_id,)).fetchone()
            if row and row[0] == name:
                seen = datetime.now(timezone.utc)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the rename did not reach the timesheet read model within {timeout}s")
            eventlet.sleep(0.001)
        [recorded_at] = store.execute("SELECT recorded_at FROM events WHERE type = 'ProjectUpdated'"
                                      " ORDER BY position DESC LIMIT 1").fetchone()
    finally:
        views.close(), store.close()
    return (seen - datetime.fromisoformat(recorded_at)).total_seconds()


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.propagation")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--load-callers", type=int, default=4)
    args = parser.parse_args(argv)
    run = uuid.uuid4().hex[:10]
    with Platform(SERVICES) as platform:
        with ClusterRpcProxy(platform.config, timeout=60, context_data=as_caller(platform.config)) as rpc:
            people, project_id, seen = set_up(rpc, run)
            sample(rpc, platform, project_id, 0)  # warm up
            idle = [sample(rpc, platform, project_id, n) for n in range(args.samples)]
            running, done = [True], [0]

            def load(index):
                with ClusterRpcProxy(platform.config, timeout=60, context_data=as_caller(platform.config)) as caller:
                    while running[0]:
                        caller.timesheet.log_time(**log_args(people, project_id, run, seen))
                        done[0] += 1

            pool = eventlet.GreenPool(args.load_callers)
            for index in range(args.load_callers):
                pool.spawn(load, index)
            eventlet.sleep(1.0)  # let the load settle in
            try:
                before, started = done[0], time.perf_counter()
                loaded = [sample(rpc, platform, project_id, n) for n in range(args.samples)]
                load_rate = (done[0] - before) / (time.perf_counter() - started)
            finally:
                running[0] = False
                pool.waitall()
    rows = [("project rename -> timesheet read model, idle", None, percentile(idle, 50), percentile(idle, 99)),
            (f"same, under log_time load ({args.load_callers} callers)", None, percentile(loaded, 50),
             percentile(loaded, 99)),
            (f"the load meanwhile: log_time calls per second ({args.load_callers} callers)", load_rate, None, None)]
    report("propagation", f"Propagation from the project store to the timesheet read model, {args.samples} samples"
                          " each", rows, {"p99 under load / p99 idle": percentile(loaded, 99) / percentile(idle, 99)})


if __name__ == "__main__":
    main(sys.argv[1:])
