"""Benchmark 4: replaying timesheet events into the timesheet read model, next to a bare ``read_all`` scan of the
same store, with the peak memory of the replaying process at two sizes (it must stay flat as the store grows).

A second baseline, the floor, writes the same rows with raw sqlite3 from the same scan: the read model's tables and
indexes, each event's entry and its export line built by the same functions, a transaction a page, and nothing read
back. What the floor costs over the scan, any replay into these tables pays; what the replay costs over the floor
is the projection's own (its one read an event, the runner, the checkpoints).

The store holds what 200 people log over the years: ``TimeLogged`` events in employee-week streams, 20 entries a
week. Each size is replayed in a fresh process, so its peak RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta

from bench.platform import report

PEOPLE = 200
PER_WEEK = 20
FIRST_MONDAY = date(2021, 1, 4)


def employee_id(person: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chronicle-bench/person/{person}"))


def fill(path, events, project_id=None):
    """A timesheet store with ``events`` TimeLogged on one project: 200 people, 20 entries each a week."""
    from shared.eventstore import NO_STREAM, NewEvent
    from shared.eventstore.sqlite import SQLiteEventStore

    store = SQLiteEventStore(path, synchronous="OFF")
    project_id = project_id or str(uuid.uuid4())
    weeks = -(-events // (PEOPLE * PER_WEEK))
    written = 0
    for week in range(weeks):
        monday = FIRST_MONDAY + timedelta(weeks=week)
        iso_year, iso_week, _ = monday.isocalendar()
        for person in range(PEOPLE):
            count = min(PER_WEEK, events - written)
            if count <= 0:
                break
            employee = employee_id(person)
            batch = [NewEvent("TimeLogged", {
                "entry_id": str(uuid.uuid4()), "employee_id": employee, "week": f"{iso_year}-W{iso_week:02d}",
                "project_id": project_id, "task_id": None, "date": (monday + timedelta(days=i % 5)).isoformat(),
                "hours": 0.5, "billable": True, "description": "work", "moved_from_week": None,
            }, metadata={"actor": employee}) for i in range(count)]
            store.append(f"timesheet-{employee}_{iso_year}W{iso_week:02d}", batch, NO_STREAM)
            written += count
    store.close()
    return written


def child(path, what):
    """Runs in its own process: scan, floor or replay the store; prints JSON (events, seconds, peak RSS in MB)."""
    from services.timesheet.events import events as registry
    from services.timesheet.projections import TimesheetsView
    from services.timesheet.service import TimesheetService
    from shared.eventstore import open_store
    from shared.projections import ProjectionRunner, ViewStore

    store = open_store(f"sqlite:///{path}")
    start = time.perf_counter()
    if what == "scan":
        position, count = 0, 0
        while True:
            page = store.read_all(position, ["timesheet"], limit=500)
            if not page:
                break
            count, position = count + len(page), page[-1].position
    elif what == "floor":
        count = floor(store, path + f".floor-{uuid.uuid4().hex}.db")
    else:
        kit = TimesheetService.chronicle
        views = ViewStore(path + f".views-{uuid.uuid4().hex}.db")
        projections = kit.projection_factory()
        runner = ProjectionRunner(store, views, projections, categories=["timesheet"], registry=registry)
        runner.run_once()
        # The events replayed, as the scan counts them: ``run_once`` counts only the events a read model handles
        # (the timesheet's, not the project facts' or the rates'); a filled store's positions are 1..N.
        count = views.get_checkpoint(TimesheetsView.name)
        if count != store.head_position(["timesheet"]):
            raise RuntimeError(f"the replay stopped at {count}")
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"events": count, "seconds": elapsed, "peak_rss_mb": peak}))


def floor(store, views_path) -> int:
    """The same rows as the replay writes for ``TimeLogged`` (a week, an entry, its export line), with raw sqlite3."""
    import sqlite3

    from services.timesheet import exports
    from services.timesheet.projections import TimesheetsView, entry_row

    db = sqlite3.connect(views_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # as the ViewStore
    TimesheetsView().setup(db)
    position, count = 0, 0
    while True:
        page = store.read_all(position, ["timesheet"], limit=500)
        if not page:
            return count
        db.execute("BEGIN")
        for event in page:
            d = event.data
            db.execute("INSERT OR IGNORE INTO ts_weeks VALUES (?, ?, 'open')", (d["employee_id"], d["week"]))
            row = entry_row(d)
            line = exports.as_logged(exports.entry_line(row, "open", None, None, None))
            db.execute("INSERT INTO ts_export_log VALUES (?, 0, ?, NULL, ?)", (event.position, d["entry_id"], line))
            db.execute("INSERT INTO ts_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'open', ?, 0)",
                       (*row, event.position))
        db.execute("COMMIT")
        count, position = count + len(page), page[-1].position


def measure(path, what):
    out = subprocess.run([sys.executable, "-m", "bench.rebuild", "--child", what, path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.rebuild")
    parser.add_argument("--sizes", default="20000,100000", help="store sizes (FULL=1: 100000,1000000)")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child[1], args.child[0])
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, ratios, memory = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = os.path.join(tmp, f"timesheet-{size}.db")
            fill(path, size)
            scan, low, replay = measure(path, "scan"), measure(path, "floor"), measure(path, "replay")
            scan_rate, replay_rate = scan["events"] / scan["seconds"], replay["events"] / replay["seconds"]
            floor_rate = low["events"] / low["seconds"]
            rows += [(f"bare read_all scan, {size:,} events (baseline)", scan_rate, None, None),
                     (f"the floor: the same rows by raw sqlite3, {size:,} events (baseline)", floor_rate, None, None),
                     (f"replay into the timesheet read model, {size:,} events", replay_rate, None, None)]
            ratios[f"replay/scan events per second, {size:,} events"] = replay_rate / scan_rate
            ratios[f"floor/scan events per second, {size:,} events"] = floor_rate / scan_rate
            ratios[f"replay/floor events per second, {size:,} events"] = replay_rate / floor_rate
            memory[size] = replay["peak_rss_mb"]
            os.remove(path)
    if len(sizes) > 1:
        ratios[f"peak RSS of the replay, {sizes[-1]:,} / {sizes[0]:,} events"] = memory[sizes[-1]] / memory[sizes[0]]
    report("rebuild", "Rebuilding the timesheet read model", rows, ratios, extra={"peak_rss_mb": memory})
    print("peak RSS of the replay (MB): " + ", ".join(f"{k:,} events {v:.0f}" for k, v in memory.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
