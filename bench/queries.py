"""Benchmark 6: queries on a timesheet service holding many time entries (200 people over the years), next to a
bare SQLite primary-key lookup of the same rows, with the service's memory.

- ``get_timesheet`` (one employee-week, loaded from its stream) over RPC: p50 and p99, against reading the same
  stream's rows by primary key with raw sqlite3 in this process, and against a bare nameko RPC whose reply is as
  large (the floor of any query answered over this transport);
- ``project_hours`` for a year, over RPC;
- ``export_hours`` for a month, in rows per second;
- the timesheet process's resident memory once its read models have caught up.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
import uuid
import warnings
from datetime import date, timedelta

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.platform import Platform, percentile, report, rss_mb, timed  # noqa: E402
from bench.rebuild import FIRST_MONDAY, PEOPLE, PER_WEEK, employee_id, fill  # noqa: E402
from shared.testing import as_caller  # noqa: E402


def caught_up(data_dir) -> bool:
    """The service at rest: its read models have applied the filled store, and its relay has published it (the
    store was filled behind its back; a backlog of a million publications is not what the queries measure)."""
    views, state = os.path.join(data_dir, "timesheet.views.db"), os.path.join(data_dir, "timesheet.state.db")
    if not (os.path.exists(views) and os.path.exists(state)):
        return False
    with sqlite3.connect(os.path.join(data_dir, "timesheet.events.db")) as store, sqlite3.connect(views) as db, \
            sqlite3.connect(state) as durable:
        head = store.execute("SELECT MAX(position) FROM events WHERE category = 'timesheet'").fetchone()[0]
        try:
            rows = db.execute("SELECT position FROM checkpoints WHERE name IN"
                              " ('timesheet_projects', 'timesheet_weeks')").fetchall()
            rows += durable.execute("SELECT position FROM checkpoints WHERE name = 'relay:timesheet'").fetchall()
        except sqlite3.OperationalError:
            return False
    return len(rows) == 3 and min(r[0] for r in rows) >= head


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.queries")
    parser.add_argument("--entries", type=int, default=100_000, help="time entries in the store (FULL=1: 1000000)")
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args(argv)
    project_id = str(uuid.uuid4())
    weeks = -(-args.entries // (PEOPLE * PER_WEEK))

    def prepare(data_dir):
        fill(os.path.join(data_dir, "timesheet.events.db"), args.entries, project_id)

    with Platform(["timesheet"], baselines=("echo",), prepare=prepare, READ_WAIT_SECONDS=600,
                  EXPORT_MAX_ROWS=10**7) as platform:
        deadline = time.monotonic() + 1800
        while not caught_up(platform.data):
            if time.monotonic() > deadline:
                raise RuntimeError("the timesheet read models did not catch up")
            time.sleep(0.5)
        rng = random.Random(7)
        keys = []
        for _ in range(args.lookups):
            monday = FIRST_MONDAY + timedelta(weeks=rng.randrange(weeks - 1))
            year, week, _ = monday.isocalendar()
            keys.append((employee_id(rng.randrange(PEOPLE)), year, week))
        store = sqlite3.connect(os.path.join(platform.data, "timesheet.events.db"))

        def bare(i):
            employee, year, week = keys[i]
            store.execute("SELECT data, metadata FROM events WHERE stream = ? ORDER BY version",
                          (f"timesheet-{employee}_{year}W{week:02d}",)).fetchall()

        with ClusterRpcProxy(platform.config, timeout=120, context_data=as_caller(platform.config)) as rpc:
            def get_timesheet(i):
                employee, year, week = keys[i]
                return rpc.timesheet.get_timesheet(employee_id=employee, week=f"{year}-W{week:02d}")

            reply_size = len(json.dumps(get_timesheet(0)))

            def echo(i):
                rpc.bench_echo.reply(size=reply_size)

            timed(get_timesheet, 20), timed(bare, 20), timed(echo, 20)  # warm up
            rpc_times, bare_times, echo_times = [], [], []
            third = args.lookups // 3
            for r in range(3):  # alternate, so drift in the machine's load hits them alike; each week looked up once
                rpc_times += timed(lambda n, r=r: get_timesheet(r * third + n), third)
                echo_times += timed(echo, third)
                bare_times += timed(lambda n, r=r: bare(r * third + n), third)
            year_start = FIRST_MONDAY.isoformat()
            year_end = (FIRST_MONDAY + timedelta(days=364)).isoformat()
            hours_times = timed(lambda i: rpc.timesheet.project_hours(project_id=project_id, from_date=year_start,
                                                                      to_date=year_end), 5)
            month_end = (FIRST_MONDAY + timedelta(days=30)).isoformat()
            start = time.perf_counter()
            exported = rpc.timesheet.export_hours(from_date=year_start, to_date=month_end, status="open")
            export_seconds = time.perf_counter() - start
        rows_exported = exported["count"]
        rss = rss_mb(platform.pids()["timesheet"])
    rows = [
        ("bare SQLite lookup of one employee-week's rows (baseline)", None, percentile(bare_times, 50),
         percentile(bare_times, 99)),
        (f"bare nameko RPC with a reply as large ({reply_size:,} bytes) (baseline)", None, percentile(echo_times, 50),
         percentile(echo_times, 99)),
        (f"get_timesheet over RPC, {args.entries:,} entries in the store", None, percentile(rpc_times, 50),
         percentile(rpc_times, 99)),
        ("project_hours for a year over RPC", None, percentile(hours_times, 50), percentile(hours_times, 99)),
        (f"export_hours for a month ({rows_exported:,} rows), rows per second", rows_exported / export_seconds,
         None, None),
    ]
    report("queries", f"Queries with {args.entries:,} time entries", rows,
           {"get_timesheet/bare p99": percentile(rpc_times, 99) / percentile(bare_times, 99),
            "get_timesheet/bare p50": percentile(rpc_times, 50) / percentile(bare_times, 50),
            "get_timesheet/RPC floor p99": percentile(rpc_times, 99) / percentile(echo_times, 99),
            "get_timesheet/RPC floor p50": percentile(rpc_times, 50) / percentile(echo_times, 50)},
           extra={"timesheet_rss_mb": rss, "entries": args.entries, "date": str(date.today())})
    print(f"timesheet service RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
