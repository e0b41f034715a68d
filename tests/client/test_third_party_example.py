"""examples/third_party_service (payroll) against the real platform, from the client's virtualenv: it books an
approved week, and after being stopped it catches up on the week approved meanwhile."""
import os
import subprocess
import uuid

import pytest
from nameko.exceptions import UnknownService

from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until

from .conftest import ROOT, client_env

pytestmark = pytest.mark.e2e

EXAMPLE_DIR = os.path.join(ROOT, "examples", "third_party_service")


class Payroll:
    """The example in its own ``nameko run`` process, from the client's virtualenv."""

    def __init__(self, bin_dir, env, log_path):
        self.command = [os.path.join(bin_dir, "nameko"), "run", "--config", "config.yaml", "payroll"]
        self.env, self.log_path, self.proc = env, log_path, None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, cwd=EXAMPLE_DIR, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]


def approve_week(rpc, config, project_id, manager, member, day, week):
    rpc.timesheet.log_time(employee_id=member, project_id=project_id, date=day, hours=7.5)
    rpc.timesheet.submit_timesheet(employee_id=member, week=week)
    with rpc_proxy(config, token=issue_token(config, manager, "manager")) as as_manager:
        as_manager.timesheet.approve_timesheet(employee_id=member, week=week)


def test_payroll_books_approved_weeks_and_catches_up_after_being_stopped(amqp_uri, tmp_path, client_venv):
    config = service_config(amqp_uri, tmp_path / "platform")
    with running(config, ResourceService, ProjectService, TimesheetService), rpc_proxy(config) as rpc:
        manager, member = (rpc.resource.register_resource(name=name, email=f"{uuid.uuid4().hex[:8]}@example.com")["id"]
                           for name in ("Mona Manager", "Martin Member"))
        project = rpc.project.create_project(name="Fjord bridge", code="FJORD", manager_id=manager,
                                             starts_on="2031-01-01", ends_on="2031-12-31")
        rpc.project.assign_member(project_id=project["id"], employee_id=member)
        token = issue_token(config, "payroll", "service", service=True)  # its own service token
        payroll = Payroll(client_venv, client_env(config, CHRONICLE_TOKEN=token, PAYROLL_DATA_DIR=tmp_path / "payroll"),
                          tmp_path / "payroll.log")

        def booked():
            return [(b["employee_id"], b["week"], b["hours"]) for b in rpc.payroll.booked_weeks()]

        try:
            approve_week(rpc, config, project["id"], manager, member, "2031-03-03", "2031-W10")
            payroll.start()  # after the first approval: it is caught up from the feed
            wait_until(lambda: booked() == [(member, "2031-W10", 7.5)], timeout=60, ignore=(UnknownService,))
            payroll.stop()
            approve_week(rpc, config, project["id"], manager, member, "2031-03-10", "2031-W11")
            payroll.start()
            wait_until(lambda: booked() == [(member, "2031-W10", 7.5), (member, "2031-W11", 7.5)], timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\npayroll's log:\n{payroll.log()}") from None
        finally:
            payroll.stop()
