"""Where a ``log_time`` spends its time: py-spy samples the timesheet process (busy samples only: a thread waiting
for work, such as the store's commit threads between commits or the hub in epoll, is not counted) while one
caller logs hours, then prints the functions with the largest share of samples (inclusive), ours first.

    .venv/bin/python -m bench.profile [--seconds 20] [--process timesheet]

Needs py-spy (``pip install '.[bench]'``) and permission to trace (root, or ptrace_scope 0).
"""
from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import time
import uuid
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.logtime import SERVICES, log_args, set_up  # noqa: E402
from bench.platform import Platform  # noqa: E402
from shared.testing import as_caller  # noqa: E402

OURS = ("shared/", "services/")


def _function(frame):
    """``Func (path/file.py:123)`` -> ``Func (path/file.py)``: lines of one function count as one."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def shares(collapsed_path):
    """Inclusive share of samples per function (a function counts once per sample, however deep it recurses)."""
    inclusive, total = collections.Counter(), 0
    with open(collapsed_path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            count = int(count)
            total += count
            frames = {_function(frame) for frame in stack.split(";")}
            for frame in frames:
                inclusive[frame] += count
    return total, inclusive


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--process", default="timesheet")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-seen", action="store_true", help="call without a token (pulls the feed each call)")
    parser.add_argument("--all", action="store_true", help="every function, not only ours (nameko, kombu, json...)")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    run = uuid.uuid4().hex[:10]
    with Platform(SERVICES) as platform:
        out = os.path.join(platform.data, "profile.txt")
        with ClusterRpcProxy(platform.config, timeout=60, context_data=as_caller(platform.config)) as rpc:
            people, project_id, seen = set_up(rpc, run)
            seen = None if args.no_seen else seen
            for _ in range(30):  # warm up
                rpc.timesheet.log_time(**log_args(people, project_id, run, seen))
            recorder = subprocess.Popen([spy, "record", "--pid", str(platform.pids()[args.process]),
                                         "--duration", str(args.seconds), "--format", "raw", "--output", out,
                                         "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            calls, deadline = 0, time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                rpc.timesheet.log_time(**log_args(people, project_id, run, seen))
                calls += 1
            recorder.wait(timeout=60)
        total, inclusive = shares(out)
    print(f"\npy-spy, {args.process} process, {args.seconds} s, {calls} log_time calls, {total} busy samples")
    print(f"{'share':>7}  function (file)")
    ours = [(f, n) for f, n in inclusive.most_common() if args.all or any(f"({o}" in f for o in OURS)]
    for frame, count in ours[:args.top]:
        print(f"{count / total:>7.1%}  {frame}")


if __name__ == "__main__":
    main(sys.argv[1:])
