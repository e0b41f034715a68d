"""The production backend under real services: the project and timesheet services (real nameko
containers on real RabbitMQ) keep all their events in one KurrentDB, through kurrentdbclient and
the off-hub calls of shared/eventstore/kurrent.py, while eventlet runs everything else.

A project is created with its manager and a member, hours are logged, submitted and approved, the
export shows the rows, and the project service's progress shows the hours: the commands append,
the relays publish from KurrentDB, the consumers record the other service's facts in KurrentDB and
the projections read them back from ``$all`` by category.
"""

import uuid

import pytest

from services.project.service import ProjectService
from services.timesheet.service import TimesheetService
from shared.eventstore import open_store
from shared.eventstore.kurrent import KurrentEventStore
from shared.testing import fake_source, issue_token, rpc_proxy, running, service_config, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.kurrentdb]

FakeResource = fake_source("resource")


def register(rpc, name):
    resource_id = str(uuid.uuid4())
    rpc.resource.emit(stream=f"resource-{resource_id}", type="ResourceRegistered", data={
        "resource_id": resource_id, "name": name, "email": f"{resource_id}@example.com",
        "weekly_capacity_hours": 37.5, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
    return resource_id


def test_project_and_timesheet_services_run_on_kurrentdb(kurrentdb_uri, amqp_uri, tmp_path):
    config = service_config(amqp_uri, tmp_path, EVENTSTORE_URI=kurrentdb_uri)
    code = f"K{uuid.uuid4().hex[:8].upper()}"  # project codes are unique per store, and a real one persists
    with running(config, ProjectService, TimesheetService, FakeResource) as runner, rpc_proxy(config) as rpc:
        stores = {c.service_name: next(d for d in c.dependencies if d.attr_name == "chronicle").store
                  for c in runner.containers}
        assert all(isinstance(store, KurrentEventStore) for store in stores.values())

        manager, member = register(rpc, "Mona Manager"), register(rpc, "Martin Member")
        project = rpc.project.create_project(name="Fjord bridge", code=code, manager_id=manager,
                                             starts_on="2031-01-01", ends_on="2031-12-31", budget_hours=100)
        task = rpc.project.add_task(project_id=project["id"], name="Survey, phase 1")
        rpc.project.assign_member(project_id=project["id"], employee_id=member)
        task_id = task.get("task_id") or task["id"]

        rpc.timesheet.log_time(employee_id=member, project_id=project["id"], date="2031-03-03", hours=7.5,
                               task_id=task_id, description="site visit")
        rpc.timesheet.log_time(employee_id=member, project_id=project["id"], date="2031-03-04", hours=4.25)
        assert rpc.timesheet.submit_timesheet(employee_id=member, week="2031-W10")["status"] == "submitted"
        with rpc_proxy(config, token=issue_token(config, manager, "manager")) as as_manager:
            approved = as_manager.timesheet.approve_timesheet(employee_id=member, week="2031-W10")
        assert approved["status"] == "approved" and approved["projects"][0]["approved_by"] == manager

        rows = rpc.timesheet.export_hours(from_date="2031-03-01", to_date="2031-03-31",
                                          min_position=approved["position"])["rows"]
        ours = [r for r in rows if r["employee_id"] == member]
        assert [(r["project_code"], r["date"], r["hours"], r["approved_by"]) for r in ours] == [
            (code, "2031-03-03", 7.5, manager), (code, "2031-03-04", 4.25, manager)]
        assert ours[0]["task_name"] == "Survey, phase 1"

        def progress():
            out = rpc.project.project_progress(project_id=project["id"])
            return out if out["logged_hours"] == 11.75 and out["approved_hours"] == 11.75 else None

        wait_until(progress, timeout=30, message="project_progress does not show the hours")

    # Everything above is in KurrentDB: the project's stream, and the timesheet service's record of it.
    store = open_store(kurrentdb_uri)
    try:
        project_events = store.read_stream(f"project-{project['id']}")
        assert [e.type for e in project_events][:1] == ["ProjectCreated"]
        recorded = store.read_stream(f"timesheet~project-{project['id']}")
        assert [e.id for e in recorded] == [e.id for e in project_events]
    finally:
        store.close()
