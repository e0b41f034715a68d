"""Benchmark 7: the gateway's streamed hours export (about 50k rows: 200 people, 20 entries a week, 13 weeks) over
HTTP, next to the timesheet service's whole CSV in one RPC reply; the largest RPC reply each way, and the gateway's
resident memory before and after.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from datetime import date, timedelta

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import requests  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.platform import ROOT, Platform, report, rss_mb  # noqa: E402
from bench.queries import caught_up  # noqa: E402
from bench.rebuild import FIRST_MONDAY, PEOPLE, PER_WEEK, fill  # noqa: E402
from shared.testing import as_caller, issue_token  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=()):
    parser = argparse.ArgumentParser(prog="bench.gateway")
    parser.add_argument("--entries", type=int, default=52_000, help="time entries to export")
    parser.add_argument("--page", type=int, default=1000, help="GATEWAY_EXPORT_PAGE")
    args = parser.parse_args(argv)
    weeks = -(-args.entries // (PEOPLE * PER_WEEK))
    first, last = FIRST_MONDAY.isoformat(), (FIRST_MONDAY + timedelta(weeks=weeks) - timedelta(days=1)).isoformat()
    address = f"127.0.0.1:{free_port()}"

    def prepare(data_dir):
        fill(os.path.join(data_dir, "timesheet.events.db"), args.entries, str(uuid.uuid4()))

    # EXPORT_MAX_ROWS: the baseline is the whole export in one reply, which the service bounds by default.
    with Platform(["timesheet"], prepare=prepare, READ_WAIT_SECONDS=600, GATEWAY_ADDRESS=address,
                  GATEWAY_EXPORT_PAGE=args.page, GATEWAY_RPC_TIMEOUT=600, EXPORT_MAX_ROWS=10**7) as platform:
        deadline = time.monotonic() + 1800
        while not caught_up(platform.data):
            if time.monotonic() > deadline:
                raise RuntimeError("the timesheet read models did not catch up")
            time.sleep(0.5)
        with open(os.path.join(platform.data, "gateway.log"), "ab") as log:
            gateway = subprocess.Popen(
                [sys.executable, "-m", "nameko", "run", "--config", os.path.join(platform.data, "config.yaml"),
                 "services.gateway.service"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), stdout=log,
                stderr=subprocess.STDOUT)
        try:
            url = f"http://{address}"
            while True:
                try:
                    requests.get(url + "/openapi.json", timeout=5)
                    break
                except requests.RequestException:
                    if gateway.poll() is not None:
                        raise RuntimeError(f"the gateway did not start; see {platform.data}/gateway.log") from None
                    time.sleep(0.2)
            token = issue_token(platform.config, "bench-admin", "admin")
            with ClusterRpcProxy(platform.config, timeout=600, context_data=as_caller(platform.config)) as rpc:
                start = time.perf_counter()
                whole = rpc.timesheet.export_hours(from_date=first, to_date=last, status="open", format="csv")
                rpc_seconds = time.perf_counter() - start
                page = rpc.timesheet.export_hours(from_date=first, to_date=last, status="open", limit=args.page)
            rows = whole.count("\r\n") - 1
            gateway_rss_before = rss_mb(gateway.pid)
            start = time.perf_counter()
            streamed, chunks = 0, 0
            with requests.get(url + "/api/v1/exports/hours", params={"from": first, "to": last, "status": "open",
                                                                      "format": "csv"},
                              headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=600) as response:
                response.raise_for_status()
                for chunk in response.iter_content(chunk_size=None):
                    streamed += len(chunk)
                    chunks += 1
            http_seconds = time.perf_counter() - start
            gateway_rss_after = rss_mb(gateway.pid)
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
    assert streamed == len(whole.encode()), (streamed, len(whole.encode()))
    page_bytes = len(repr(page["rows"]).encode())
    report("gateway", f"Hours export of {rows:,} rows: streamed over HTTP next to one RPC reply", [
        ("export_hours CSV in one RPC reply (baseline), rows per second", rows / rpc_seconds, rpc_seconds, None),
        (f"GET /exports/hours CSV through the gateway, {args.page} rows a page, rows per second",
         rows / http_seconds, http_seconds, None),
    ], {"gateway/one reply seconds": http_seconds / rpc_seconds},
        extra={"rows": rows, "csv_bytes": streamed, "http_chunks": chunks, "largest_reply_bytes_one_rpc": len(whole),
               "largest_reply_bytes_paged_approx": page_bytes, "gateway_rss_mb_before": gateway_rss_before,
               "gateway_rss_mb_after": gateway_rss_after, "date": str(date.today())})
    print(f"{rows:,} rows, {streamed / 1e6:.1f} MB of CSV in {chunks} chunks; largest RPC reply: one piece "
          f"{len(whole) / 1e6:.1f} MB, paged ~{page_bytes / 1e6:.2f} MB; gateway RSS {gateway_rss_before:.0f} -> "
          f"{gateway_rss_after:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
