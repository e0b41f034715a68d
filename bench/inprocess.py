"""Benchmark 2: command handling in one process, no RPC: the kit's ``execute`` on the SQLite store next to the
Python ``eventsourcing`` library's ``Application`` on its SQLite persistence, on the same workload in the same run.

The workload is what a command does: load an aggregate from its stream, decide, append one event with optimistic
concurrency. Aggregates are kept as short as real ones (an employee-week, a project): 20 commands each, then a new
one. Both stores use WAL with synchronous=FULL (eventsourcing keeps SQLite's default, FULL), one transaction a
command. ``eventsourcing`` is installed for the benchmark only (``pip install '.[bench]'``).
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid

from marshmallow import Schema, fields

from bench.platform import report
from shared.aggregate import Aggregate
from shared.events import EventRegistry
from shared.eventstore import open_store
from shared.handling import execute

PER_AGGREGATE = 20

registry = EventRegistry()


@registry.register("Ticked")
class Ticked(Schema):
    clock_id = fields.String(required=True)


class KitClock(Aggregate):
    category = "clock"

    def tick(self):
        self.record("Ticked", clock_id=self.id)


def kit_rate(path, n) -> float:
    store = open_store(f"sqlite:///{path}")
    start = time.perf_counter()
    for i in range(n):
        if i % PER_AGGREGATE == 0:
            clock = str(uuid.uuid4())
        execute(store, registry, KitClock, clock, lambda c: c.tick())
    return n / (time.perf_counter() - start)


try:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate as LibraryAggregate
    from eventsourcing.domain import event
except ImportError:  # the baseline is optional: see main()
    LibraryAggregate = None
else:
    class LibraryClock(LibraryAggregate):
        @event("Created")
        def __init__(self):
            self.ticks = 0

        @event("Ticked")
        def tick(self):
            self.ticks += 1


def library_rate(path, n) -> float:
    os.environ["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
    os.environ["SQLITE_DBNAME"] = path
    app = Application()
    start = time.perf_counter()
    clock_id = None
    for i in range(n):
        if i % PER_AGGREGATE == 0:
            clock = LibraryClock()  # creating it is the first of its commands, as the kit's first tick creates the stream
        else:
            clock = app.repository.get(clock_id)
            clock.tick()
        app.save(clock)
        clock_id = clock.id
    return n / (time.perf_counter() - start)


def commit_rate(path, n) -> float:
    """The floor under both: raw sqlite3 committing one small row a transaction, WAL, ``synchronous=FULL``. A
    command that appends in a transaction of its own cannot run faster than this on the same disk."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, data TEXT)")
    start = time.perf_counter()
    for _ in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events (data) VALUES (?)", ('{"clock_id": "%s"}' % uuid.uuid4(),))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    conn.close()
    return rate


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.inprocess")
    parser.add_argument("--commands", type=int, default=3000, help="commands per round (FULL=1: 20000)")
    args = parser.parse_args(argv)
    if LibraryAggregate is None:
        print("\nbench.inprocess skipped: install the baseline with `pip install '.[bench]'`")
        return
    rounds = {"kit": [], "library": [], "commit": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(3):  # alternate, so the machine's drift hits all alike
            rounds["library"].append(library_rate(os.path.join(tmp, f"library-{r}.db"), args.commands))
            rounds["kit"].append(kit_rate(os.path.join(tmp, f"kit-{r}.db"), args.commands))
            rounds["commit"].append(commit_rate(os.path.join(tmp, f"commit-{r}.db"), args.commands))
    median = {k: sorted(v)[1] for k, v in rounds.items()}
    report("inprocess", f"Commands in one process (load, decide, append one event), {args.commands} a round,"
                        " median of 3",
           [("eventsourcing Application, SQLite (baseline)", median["library"], None, None),
            ("Chronicle kit execute, SQLite store", median["kit"], None, None),
            ("raw sqlite3, one row a transaction (the disk's floor)", median["commit"], None, None)],
           {"kit/eventsourcing commands per second": median["kit"] / median["library"],
            "raw commits/eventsourcing (the most any store could reach)": median["commit"] / median["library"],
            "kit/raw commits": median["kit"] / median["commit"]},
           extra={"rounds": rounds})


if __name__ == "__main__":
    main(sys.argv[1:])
