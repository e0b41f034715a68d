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


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.eventstore")
    parser.add_argument("--events", type=int, default=2000, help="single-event appends per run")
    parser.add_argument("--batches", type=int, default=50, help="batches of --size events")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is shown")
    args = parser.parse_args(argv)

    print(f"SQLite event store vs raw sqlite3 — {args.events} single appends, {args.batches}x{args.size} batches,"
          f" median of {args.rounds} alternating rounds")
    print(f"{'case':<34}{'store ev/s':>12}{'raw ev/s':>12}{'store/raw':>11}")
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
            print(f"{label + ' (sync=' + synchronous + ')':<34}{s:>12,.0f}{r:>12,.0f}{s / r:>11.2f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
