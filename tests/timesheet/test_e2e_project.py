"""The issue's end-to-end flow with the real project service: create a project with its manager and a
member, log hours, submit, the manager approves, export the rows, and project_progress shows the hours."""
import csv
import io
import uuid

import pytest

from services.project.service import ProjectService
from services.timesheet.service import TimesheetService
from shared.testing import fake_source, issue_token, rpc_proxy, running, service_config, wait_until

pytestmark = pytest.mark.e2e

FakeResource = fake_source("resource")


def register(rpc, name):
    resource_id = str(uuid.uuid4())
    rpc.resource.emit(stream=f"resource-{resource_id}", type="ResourceRegistered", data={
        "resource_id": resource_id, "name": name, "email": f"{resource_id}@example.com",
        "weekly_capacity_hours": 37.5, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
    return resource_id


def test_log_submit_approve_export_and_progress(amqp_uri, tmp_path):
    config = service_config(amqp_uri, tmp_path)
    with running(config, ProjectService, TimesheetService, FakeResource), rpc_proxy(config) as rpc:
        # 1. a project, with its manager and a member registered as resources
        manager, member = register(rpc, "Mona Manager"), register(rpc, "Martin Member")
        project = rpc.project.create_project(name="Fjord bridge", code="FJORD", manager_id=manager,
                                             starts_on="2031-01-01", ends_on="2031-12-31", budget_hours=100)
        task = rpc.project.add_task(project_id=project["id"], name="Survey, phase 1")
        rpc.project.assign_member(project_id=project["id"], employee_id=member)
        task_id = task.get("task_id") or task["id"]
        # 2. hours are logged (the timesheet service pulls the project's facts if they have not arrived)
        first = rpc.timesheet.log_time(employee_id=member, project_id=project["id"], date="2031-03-03", hours=7.5,
                                       task_id=task_id, description='site visit, "north" pier')
        rpc.timesheet.log_time(employee_id=member, project_id=project["id"], date="2031-03-04", hours=4.25)
        assert first["billable"] is True and first["week"] == "2031-W10"
        # 3. the week is submitted
        submitted = rpc.timesheet.submit_timesheet(employee_id=member, week="2031-W10")
        assert submitted["status"] == "submitted"
        assert [p["employee_id"] for p in rpc.timesheet.pending_approvals(approver_id=manager)] == [member]
        # 4. the manager approves, with their own token
        with rpc_proxy(config, token=issue_token(config, manager, "manager")) as as_manager:
            approved = as_manager.timesheet.approve_timesheet(employee_id=member, week="2031-W10")
        assert approved["status"] == "approved" and approved["projects"][0]["approved_by"] == manager
        # 5. export_hours returns the rows
        rows = rpc.timesheet.export_hours(from_date="2031-03-01", to_date="2031-03-31",
                                          min_position=approved["position"])["rows"]
        assert [(r["employee_id"], r["project_code"], r["date"], r["hours"], r["approved_by"]) for r in rows] == [
            (member, "FJORD", "2031-03-03", 7.5, manager), (member, "FJORD", "2031-03-04", 4.25, manager)]
        assert rows[0]["task_name"] == "Survey, phase 1"
        text = rpc.timesheet.export_hours(from_date="2031-03-01", to_date="2031-03-31", format="csv")
        parsed = list(csv.DictReader(io.StringIO(text, newline="")))
        assert parsed[0]["description"] == 'site visit, "north" pier' and parsed[1]["hours"] == "4.25"

        # 6. project_progress in the project service shows the hours
        def progress():
            out = rpc.project.project_progress(project_id=project["id"])
            return out if out["logged_hours"] == 11.75 and out["approved_hours"] == 11.75 else None

        out = wait_until(progress, timeout=20, message="project_progress does not show the hours")
        assert out["billable_hours"] == 11.75
