"""Faults across the real services: a service SIGKILLed mid-flow, and a consumer that starts late."""
import os
from collections import Counter

import pytest
from nameko.exceptions import UnknownService

from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import ServiceProcess, issue_token, rpc_proxy, running, service_config, wait_until

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_up(rpc, name):
    wait_until(lambda: getattr(rpc, name).events_since(position=0, limit=1), timeout=60, ignore=(UnknownService,),
               message=f"{name} did not start")


def test_project_killed_while_hours_are_logged_counts_every_hour_once(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, CATCHUP_INTERVAL=1.0)
    project_process = ServiceProcess("project", config, tmp_path).start()
    try:
        with running(config, ResourceService, TimesheetService), rpc_proxy(config) as rpc:
            wait_up(rpc, "project")
            manager = rpc.resource.register_resource(name="Mona", email="mona@faults.example")
            dev = rpc.resource.register_resource(name="Dev", email="dev@faults.example")
            project = rpc.project.create_project(name="Pier", code="PIER", manager_id=manager["id"],
                                                 budget_hours=100)
            rpc.project.assign_member(project_id=project["id"], employee_id=dev["id"])
            rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date="2030-05-06", hours=3)
            wait_until(lambda: rpc.project.project_progress(project_id=project["id"])["logged_hours"] == 3,
                       timeout=20)

            project_process.kill()  # mid-flow, no goodbye
            for day in ("2030-05-07", "2030-05-08", "2030-05-09"):
                rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date=day, hours=2.5)
            entry = rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date="2030-05-10",
                                           hours=1)
            rpc.timesheet.delete_entry(entry_id=entry["id"], reason="logged by mistake")

            project_process.start()
            wait_up(rpc, "project")
            progress = wait_until(
                lambda: (p := rpc.project.project_progress(project_id=project["id"]))["logged_hours"] == 10.5 and p,
                timeout=30, message="the hours logged while project was down did not arrive")
            # Nothing counted twice: the delivery of the queued messages and the feed catch-up overlap.
            wait_until(lambda: rpc.project.project_progress(project_id=project["id"])["logged_hours"] == 10.5,
                       timeout=5)
            assert progress["percent_used"] == 10.5
            history = [h["type"] for h in rpc.project.history(project_id=project["id"])]
            assert "BudgetThresholdReached" not in history
    finally:
        project_process.stop()


def test_a_notification_service_started_after_everything_happened_tells_everyone(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, REMINDER_CHECK_SECONDS=3600)
    with running(config, ResourceService, ProjectService, TimesheetService), rpc_proxy(config) as rpc:
        manager = rpc.resource.register_resource(name="Mona", email="mona@late.example")
        dev = rpc.resource.register_resource(name="Dev", email="dev@late.example")
        project = rpc.project.create_project(name="Dock", code="DOCK", manager_id=manager["id"])
        rpc.project.assign_member(project_id=project["id"], employee_id=dev["id"])
        rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"], date="2030-05-06", hours=7)
        rpc.timesheet.submit_timesheet(employee_id=dev["id"], week="2030-W19")
        with rpc_proxy(config, token=issue_token(config, manager["id"], "manager")) as as_manager:
            as_manager.timesheet.approve_timesheet(employee_id=dev["id"], week="2030-W19")

        # The notification service has never run: its queues did not exist when all this was published.
        with running(config, NotificationService):
            def kinds(person):
                return Counter(n["kind"] for n in rpc.notification.inbox(user_id=person["id"]))

            wait_until(lambda: kinds(dev) == Counter(member_assigned=1, timesheet_approved=1), timeout=30,
                       message="the late notification service did not catch up for dev")
            wait_until(lambda: kinds(manager) == Counter(timesheet_submitted=1), timeout=30,
                       message="the late notification service did not catch up for the manager")
