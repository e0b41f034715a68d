"""`make run`: every service in its own process, demo data seeded, the address printed, Ctrl-C/SIGTERM stops all."""
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from shared.testing import rpc_proxy, wait_until

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_until(proc, marker, timeout):
    out, deadline = b"", time.monotonic() + timeout
    while marker.encode() not in out:
        remaining = deadline - time.monotonic()
        assert remaining > 0 and proc.poll() is None, f"no {marker!r} in time; output so far:\n{out.decode()}"
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            out += chunk
    return out.decode()


def test_run_starts_the_platform_with_demo_data(isolated_amqp_uri, tmp_path):
    import requests

    from tests.notification.helpers import free_port

    gateway = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, AMQP_URI=isolated_amqp_uri, CHRONICLE_DATA_DIR=str(tmp_path), PYTHONPATH=ROOT,
               GATEWAY_ADDRESS=gateway)
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run", "--demo"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output = read_until(proc, "stop:", timeout=120)
        assert "Chronicle is running." in output and isolated_amqp_uri in output
        assert "Demo data: project DEMO-HBR" in output
        # the printed admin token works as it is; the printed shell line presents it
        admin = re.search(r"admin token \(Ada, demo\): (\S+)", output).group(1)
        assert f"n.rpc._worker_ctx.data['authorization'] = 'Bearer {admin}'" in output
        # the printed curl line works as it is: the gateway, with the demo admin's token
        token, url = re.search(r"curl -H 'Authorization: Bearer (\S+)' (\S+)", output).groups()
        assert token == admin and url == f"http://{gateway}/api/v1/projects"
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200 and [p["code"] for p in answer.json()] == ["DEMO-HBR"]
        with rpc_proxy({"AMQP_URI": isolated_amqp_uri}, token=admin) as rpc:
            [project] = rpc.project.list_projects()
            assert project["code"] == "DEMO-HBR"
            wait_until(lambda: rpc.project.project_progress(project_id=project["id"])["approved_hours"] == 37.5,
                       timeout=30, message="demo hours not approved in project_progress")
            ingrid = next(r for r in rpc.resource.list_resources() if r["name"] == "Ingrid Manager")
            wait_until(lambda: any(n["kind"] == "timesheet_submitted"
                                   for n in rpc.notification.inbox(user_id=ingrid["id"])), timeout=30)
            assert len(children_of_this_run(tmp_path)) == 5  # the four services and the gateway

            # `chronicle rebuild` replays a service's read models beside the live ones and swaps, even while it runs
            for service in ("project", "timesheet", "resource", "notification"):
                out = subprocess.run([sys.executable, "-m", "shared.cli", "rebuild", service], cwd=ROOT, env=env,
                                     capture_output=True, text=True, timeout=120)
                assert out.returncode == 0 and f"{service}: rebuilt" in out.stdout, out.stderr
            assert rpc.project.project_progress(project_id=project["id"])["approved_hours"] == 37.5
            assert [p["code"] for p in rpc.project.list_projects()] == ["DEMO-HBR"]
            bad = subprocess.run([sys.executable, "-m", "shared.cli", "rebuild", "nosuch"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
            assert bad.returncode != 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) is not None
    # the services went with it
    wait_until(lambda: not children_of_this_run(tmp_path), timeout=30, message="service processes outlived `run`")


def children_of_this_run(data_dir):
    """Service processes started for this data dir (their environment names it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if b"nameko" in cmdline and f"CHRONICLE_DATA_DIR={data_dir}".encode() in environ:
            found.append(int(pid))
    return found


def start_run(env, *args):
    """`chronicle run` leading its own process group, as a terminal would start it."""
    return subprocess.Popen([sys.executable, "-m", "shared.cli", "run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def test_run_restarts_a_dead_service_and_stops_on_one_ctrl_c_within_10s(isolated_amqp_uri, tmp_path):
    env = dict(os.environ, AMQP_URI=isolated_amqp_uri, CHRONICLE_DATA_DIR=str(tmp_path), PYTHONPATH=ROOT)
    proc = start_run(env, "project", "resource")
    try:
        output = read_until(proc, "stop:", timeout=120)
        with rpc_proxy({"AMQP_URI": isolated_amqp_uri, "CHRONICLE_DATA_DIR": str(tmp_path)}, timeout=10) as rpc:
            assert rpc.project.list_projects() == []
            [victim] = [pid for pid in children_of_this_run(tmp_path) if b"services.project" in cmdline(pid)]
            os.kill(victim, signal.SIGKILL)
            output += read_until(proc, "restarting project", timeout=30)
            assert "project exited with code -9" in output
            wait_until(lambda: victim not in children_of_this_run(tmp_path) and len(children_of_this_run(tmp_path)) == 2,
                       timeout=30, message="project was not restarted")
            wait_until(lambda: rpc.project.list_projects() == [], timeout=60, ignore=(Exception,),
                       message="the restarted project service does not answer")
        children = children_of_this_run(tmp_path)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        proc.wait(timeout=30)
        took = time.monotonic() - started
        rest = proc.stdout.read().decode()
        assert took < 10, f"stopping took {took:.1f}s"
        assert proc.returncode == 0 and "Chronicle stopped." in rest and "killed" not in rest, rest
        assert "Traceback" not in output + rest
        assert not [pid for pid in children if os.path.exists(f"/proc/{pid}")], "service processes outlived `run`"
        log = (tmp_path / "resource.log").read_text()  # stopped once, by nameko itself, without a traceback
        assert log.count("stopping services") == 1, log[-3000:]
        assert "Traceback" not in log[log.index("stopping services"):], log[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_run_says_in_one_line_within_5s_that_the_broker_cannot_be_reached(tmp_path):
    env = dict(os.environ, AMQP_URI="amqp://guest:secret@127.0.0.1:1/", CHRONICLE_DATA_DIR=str(tmp_path),
               PYTHONPATH=ROOT)
    proc = start_run(env)
    try:
        started = time.monotonic()
        output = read_until(proc, "retrying every 5s\n", timeout=5)
        assert time.monotonic() - started < 5
        [line] = [line for line in output.splitlines() if "broker" in line]  # one line, beside the dev-key note
        assert line.startswith("chronicle run: cannot reach the broker at amqp://guest:***@127.0.0.1:1/"), output
        assert "secret" not in output and "Traceback" not in output
        assert proc.poll() is None, "run gave up instead of retrying"
        assert not children_of_this_run(tmp_path)  # nothing started against a broker that is not there
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
