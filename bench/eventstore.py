"""Appends per second on the SQLite event store, next to raw sqlite3 inserting the same rows.

Both sides use the same file settings (WAL, the same ``synchronous``), one transaction per append
(``BEGIN IMMEDIATE``), and the same row shape; the difference is what the store adds: the
expected-version check, the duplicate-id check and JSON encoding.
"""
import argparse
import json
import os
import sqlite3
import tempfile
import time
import uuid
from datetime import datetime, timezone

from bench.platform import report
from shared.eventstore import NO_STREAM, NewEvent
from shared.eventstore.sqlite import SCHEMA, SQLiteEventStore

DATA = {"project_id": "3f1c9a52-54a4-4e0f-a7b1-2f3b4c5d6e7f", "employee_id": "e1", "date": "2026-11-30",
        "hours": 7.5, "description": "Design review with the client", "billable": True}
META = {"actor": "bench", "correlation_id": "c", "causation_id": "c", "command_id": None}


def store_single(path, n, synchronous):
    store = SQLiteEventStore(path, synchronous=synchronous)
    start = time.perf_counter()
    for i in range(n):
        store.append(f"bench-{i % 50}", [NewEvent("TimeLogged", DATA, metadata=META)],
                     NO_STREAM if i < 50 else (i // 50) - 1)
    elapsed = time.perf_counter() - start
    store.close()
    return n / elapsed


def store_batches(path, batches, size, synchronous):
    store = SQLiteEventStore(path, synchronous=synchronous)
    start = time.perf_counter()
    for b in range(batches):
        store.append(f"batch-{b}", [NewEvent("TimeLogged", DATA, metadata=META) for _ in range(size)], NO_STREAM)
    elapsed = time.perf_counter() - start
    store.close()
    return batches * size / elapsed


def _raw_conn(path, synchronous):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.executescript(SCHEMA)
    return conn


def _row(stream, version):
    return (str(uuid.uuid4()), stream, "bench", version, "TimeLogged", 1, json.dumps(DATA), json.dumps(META),
            datetime.now(timezone.utc).isoformat())


INSERT = ("INSERT INTO events (id, stream, category, version, type, schema_version, data, metadata, recorded_at)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def raw_single(path, n, synchronous):
    conn = _raw_conn(path, synchronous)
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(INSERT, _row(f"bench-{i % 50}", i // 50))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def raw_batches(path, batches, size, synchronous):
    conn = _raw_conn(path, synchronous)
    start = time.perf_counter()
    for b in range(batches):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, [_row(f"batch-{b}", v) for v in range(size)])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return batches * size / elapsed


def fill(path, events):
    store = SQLiteEventStore(path, synchronous="OFF")
    for b in range(0, events, 500):
        store.append(f"fill-{b}", [NewEvent("TimeLogged", DATA, metadata=META) for _ in range(min(500, events - b))],
                     NO_STREAM)
    store.close()


def store_scan(path) -> float:
    """``read_all`` pages through the whole store: events per second, envelopes decoded."""
    store = SQLiteEventStore(path)
    start, position, count = time.perf_counter(), 0, 0
    while True:
        page = store.read_all(position, limit=1000)
        if not page:
            break
        count, position = count + len(page), page[-1].position
    elapsed = time.perf_counter() - start
    store.close()
    return count / elapsed


def raw_scan(path) -> float:
    """The same pages with raw sqlite3, decoding the same JSON columns: the floor for any scan."""
    conn = sqlite3.connect(path)
    start, position, count = time.perf_counter(), 0, 0
    while True:
        rows = conn.execute("SELECT position, id, stream, version, type, schema_version, data, metadata, recorded_at"
                            " FROM events WHERE position > ? ORDER BY position LIMIT 1000", (position,)).fetchall()
        if not rows:
            break
        for row in rows:
            json.loads(row[6]), json.loads(row[7]), datetime.fromisoformat(row[8])
        count, position = count + len(rows), rows[-1][0]
    elapsed = time.perf_counter() - start
    conn.close()
    return count / elapsed


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.eventstore")
    parser.add_argument("--events", type=int, default=2000, help="single-event appends per run")
    parser.add_argument("--batches", type=int, default=50, help="batches of --size events")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is shown")
    parser.add_argument("--scan", type=int, default=50_000, help="events in the store that read_all scans")
    args = parser.parse_args(argv)
    rows, ratios = [], {}

    for synchronous in ("FULL", "NORMAL"):
        for label, store_fn, raw_fn, fn_args in (
            ("1 event per transaction", store_single, raw_single, (args.events,)),
            (f"batches of {args.size}", store_batches, raw_batches, (args.batches, args.size)),
        ):
            store_rates, raw_rates = [], []
            for _ in range(args.rounds):
                with tempfile.TemporaryDirectory() as tmp:
                    store_rates.append(store_fn(os.path.join(tmp, "s.db"), *fn_args, synchronous))
                    raw_rates.append(raw_fn(os.path.join(tmp, "r.db"), *fn_args, synchronous))
            s, r = sorted(store_rates)[len(store_rates) // 2], sorted(raw_rates)[len(raw_rates) // 2]
            case = f"{label} (sync={synchronous})"
            rows += [(f"raw sqlite3 appends, {case} (baseline)", r, None, None), (f"store appends, {case}", s, None, None)]
            ratios[f"store/raw appends, {case}"] = s / r
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scan.db")
        fill(path, args.scan)
        scans = [(store_scan(path), raw_scan(path)) for _ in range(args.rounds)]
    s, r = sorted(x[0] for x in scans)[args.rounds // 2], sorted(x[1] for x in scans)[args.rounds // 2]
    rows += [("raw sqlite3 scan, JSON decoded (baseline)", r, None, None), ("store read_all scan", s, None, None)]
    ratios["store/raw read_all events per second"] = s / r
    report("eventstore", f"SQLite event store next to raw sqlite3: {args.events} single appends,"
                         f" {args.batches}x{args.size} batches, a scan of {args.scan:,} events; median of {args.rounds}"
                         " alternating rounds", rows, ratios)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
