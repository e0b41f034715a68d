"""Benchmark 1: ``timesheet.log_time`` over RPC next to a bare nameko echo, on the same broker, in the same run.

Every service runs in its own ``nameko run`` process, as in production, so the figures include what a
``log_time`` costs around the kit: the fresh project check, the period lock, the relay, and the three consumers
(project, resource, notification) that record each ``TimeLogged``. The CPU each process spent per command is read
from /proc. Machines are noisy: compare the ratios, not the absolute numbers.

A second baseline, the floor (bench/floor.py), runs beside them: the fewest moving parts with ``log_time``'s
guarantees, in bare nameko (an RPC that appends durably and publishes one event with a confirm, and three services
that each record it durably). What the floor costs over the echo, any design with those guarantees pays on this
machine; what ``log_time`` costs over the floor is Chronicle's own.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from datetime import date, timedelta

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.platform import Platform, cpu_seconds, percentile, report, timed  # noqa: E402
from shared.testing import as_caller  # noqa: E402

SERVICES = ("resource", "project", "timesheet", "notification")
EMPLOYEES = 8
ENTRIES_PER_WEEK = 20  # a real employee-week holds a few dozen entries at most; aggregates load whole
FIRST_MONDAY = date(2031, 1, 6)


def set_up(rpc, run):
    people = [rpc.resource.register_resource(name=f"Bench Person {i}", email=f"bench{i}-{run}@example.com",
                                             command_id=f"bench:{run}:person:{i}")["id"] for i in range(EMPLOYEES)]
    project = rpc.project.create_project(name="Bench", code=f"B{run[:6].upper()}", manager_id=people[0],
                                         customer="Bench", starts_on="2031-01-01", ends_on="2039-12-31",
                                         command_id=f"bench:{run}:project")
    seen = project["position"]
    for i, person in enumerate(people):
        seen = rpc.project.assign_member(project_id=project["id"], employee_id=person, role="member",
                                         command_id=f"bench:{run}:member:{i}")["position"]
    return people, project["id"], {"project": seen}


SEQUENCE = itertools.count()


def log_args(people, project_id, run, seen=None):
    """The next call's arguments: the employees in turn, 20 entries an employee-week, 0.25 h each (an hour a
    day: never near 24 h), so every aggregate stays as short as a real week. ``seen``: the caller's
    causal-consistency token (the project positions it has seen), as a real caller passes it; None: no token,
    so the service pulls the project feed before every call."""
    seq = next(SEQUENCE)
    k = seq // len(people)
    day = FIRST_MONDAY + timedelta(weeks=k // ENTRIES_PER_WEEK, days=k % 5)
    args = dict(employee_id=people[seq % len(people)], project_id=project_id, date=day.isoformat(), hours=0.25,
                description="bench", command_id=f"bench:{run}:log:{seq}")
    return {**args, "seen": seen} if seen is not None else args


def in_flight(config, make_call, total, concurrency):
    """``total`` calls with ``concurrency`` callers, each with its own proxy; returns calls per second."""
    per_caller = total // concurrency

    def caller(index):
        with ClusterRpcProxy(config, timeout=60, context_data=as_caller(config)) as rpc:
            call = make_call(rpc, index)
            for n in range(per_caller):
                call(n)

    pool = eventlet.GreenPool(concurrency)
    start = time.perf_counter()
    list(pool.imap(caller, range(concurrency)))
    return per_caller * concurrency / (time.perf_counter() - start)


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.logtime")
    parser.add_argument("--calls", type=int, default=400, help="calls per case (FULL=1: 2000)")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    run = uuid.uuid4().hex[:10]
    with Platform(SERVICES, baselines=("echo", "floor")) as platform:
        config = platform.config
        with ClusterRpcProxy(config, timeout=60, context_data=as_caller(config)) as rpc:
            people, project_id, seen = set_up(rpc, run)

            def echo(n):
                rpc.bench_echo.echo(employee_id=people[0], project_id=project_id, date="2031-01-06", hours=0.25,
                                    description="bench", command_id=f"echo:{n}")

            def floor(n):
                rpc.bench_floor.log(employee_id=people[0], project_id=project_id, date="2031-01-06", hours=0.25,
                                    description="bench", command_id=f"floor:{n}")

            def log(n):
                rpc.timesheet.log_time(**log_args(people, project_id, run, seen))

            def log_untokened(n):
                rpc.timesheet.log_time(**log_args(people, project_id, run))

            timed(echo, 30), timed(floor, 30), timed(log, 30), timed(log_untokened, 30)  # warm up every path
            rounds = {"echo": [], "floor": [], "log_time": [], "untokened": []}
            cpu, echo_cpu, floor_cpu = {}, {}, {}
            pids = {**platform.pids(), "caller (this process)": os.getpid(), **broker_pid()}

            def count(into, before):
                after = cpu_seconds(pids)
                for name in after:
                    into[name] = into.get(name, 0.0) + after[name] - before[name]

            for _ in range(3):  # alternate, so drift in the machine's load hits them alike
                before = cpu_seconds(pids)
                rounds["echo"].append(timed(echo, args.calls // 3))
                count(echo_cpu, before)
                before = cpu_seconds(pids)
                rounds["floor"].append(timed(floor, args.calls // 3))
                count(floor_cpu, before)
                before = cpu_seconds(pids)
                rounds["log_time"].append(timed(log, args.calls // 3))
                count(cpu, before)
                rounds["untokened"].append(timed(log_untokened, args.calls // 3))
        one = {k: [x for r in v for x in r] for k, v in rounds.items()}
        rates = {k: len(v) / sum(v) for k, v in one.items()}
        logged = len(one["log_time"])

        def make_echo(rpc, index):
            return lambda n: rpc.bench_echo.echo(hours=0.25, command_id=f"echo:{index}:{n}")

        def make_floor(rpc, index):
            return lambda n: rpc.bench_floor.log(hours=0.25, command_id=f"floor:{index}:{n}")

        def make_log(rpc, index):
            return lambda n: rpc.timesheet.log_time(**log_args(people, project_id, run, seen))

        flight = {
            "echo": in_flight(config, make_echo, args.calls, args.concurrency),
            "floor": in_flight(config, make_floor, args.calls, args.concurrency),
            "log_time": in_flight(config, make_log, args.calls, args.concurrency),
        }
    rows = [
        ("bare nameko echo, 1 caller (baseline)", rates["echo"], percentile(one["echo"], 50),
         percentile(one["echo"], 99)),
        ("the floor: bare nameko, a durable append, an event, 3 durable followers (baseline)", rates["floor"],
         percentile(one["floor"], 50), percentile(one["floor"], 99)),
        ("timesheet.log_time, 1 caller, passing seen", rates["log_time"], percentile(one["log_time"], 50),
         percentile(one["log_time"], 99)),
        ("timesheet.log_time, 1 caller, no seen (pulls the project feed)", rates["untokened"],
         percentile(one["untokened"], 50), percentile(one["untokened"], 99)),
        (f"bare nameko echo, {args.concurrency} in flight (baseline)", flight["echo"], None, None),
        (f"the floor, {args.concurrency} in flight (baseline)", flight["floor"], None, None),
        (f"timesheet.log_time, {args.concurrency} in flight, passing seen", flight["log_time"], None, None),
    ]
    ratios = {
        "log_time/echo calls per second, 1 caller": rates["log_time"] / rates["echo"],
        "log_time/echo p50 latency, 1 caller": percentile(one["log_time"], 50) / percentile(one["echo"], 50),
        "log_time without seen/echo calls per second, 1 caller": rates["untokened"] / rates["echo"],
        "log_time without seen/echo p50 latency, 1 caller":
            percentile(one["untokened"], 50) / percentile(one["echo"], 50),
        f"log_time/echo calls per second, {args.concurrency} in flight": flight["log_time"] / flight["echo"],
        f"log_time {args.concurrency} in flight / 1 caller": flight["log_time"] / rates["log_time"],
        "floor/echo calls per second, 1 caller": rates["floor"] / rates["echo"],
        "floor/echo p50 latency, 1 caller": percentile(one["floor"], 50) / percentile(one["echo"], 50),
        f"floor {args.concurrency} in flight / 1 caller": flight["floor"] / rates["floor"],
        "log_time/floor calls per second, 1 caller": rates["log_time"] / rates["floor"],
        "log_time/floor p50 latency, 1 caller": percentile(one["log_time"], 50) / percentile(one["floor"], 50),
    }
    cpu_per_command = {name: seconds / logged * 1000 for name, seconds in sorted(cpu.items())}
    cpu_per_echo = {name: seconds / len(one["echo"]) * 1000 for name, seconds in sorted(echo_cpu.items())}
    cpu_per_floor = {name: seconds / len(one["floor"]) * 1000 for name, seconds in sorted(floor_cpu.items())}
    ratios["CPU of every process per log_time / per echo"] = sum(cpu_per_command.values()) / sum(cpu_per_echo.values())
    ratios["CPU of every process per floor call / per echo"] = sum(cpu_per_floor.values()) / sum(cpu_per_echo.values())
    report("logtime", f"log_time over RPC, {args.calls} calls a case", rows, ratios,
           extra={"cpu_ms_per_log_time": cpu_per_command, "cpu_ms_per_echo": cpu_per_echo,
                  "cpu_ms_per_floor_call": cpu_per_floor,
                  "median_latency_ms": {k: statistics.median(v) * 1000 for k, v in one.items()}})
    print("CPU per log_time, by process (ms):  " + ",  ".join(f"{k} {v:.2f}" for k, v in cpu_per_command.items()
                                                             if v >= 0.05)
          + f";  all {sum(cpu_per_command.values()):.2f}")
    for what, per in (("echo", cpu_per_echo), ("floor call", cpu_per_floor)):
        print(f"CPU per {what}, by process (ms):".ljust(36) + ",  ".join(f"{k} {v:.2f}" for k, v in per.items() if v >= 0.05)
              + f";  all {sum(per.values()):.2f}")


def broker_pid() -> dict:
    """The RabbitMQ node's process, when it runs on this machine (its CPU counts in the budget too; a shared node's
    includes whatever else it serves meanwhile)."""
    try:
        out = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"broker (beam.smp)": int(out[0])} if out else {}


if __name__ == "__main__":
    main(sys.argv[1:])
