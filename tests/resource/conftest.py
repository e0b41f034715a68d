"""One running resource service (with stand-ins for project and timesheet) per test module."""
import uuid

import pytest
from nameko.events import event_handler
from nameko.rpc import rpc

from services.resource.service import ResourceService
from shared.testing import fake_source, rpc_proxy, running, service_config

FakeProject = fake_source("project")
FakeTimesheet = fake_source("timesheet", ["timesheet", "timesheetlock"])


class OverbookedListener:
    """A real subscriber on resource.events, as another service would be."""

    name = "overbooked_listener"
    seen = []

    @event_handler("resource", "ResourceOverbooked")
    def on_overbooked(self, envelope):
        OverbookedListener.seen.append(envelope)

    @rpc
    def received(self):
        return list(OverbookedListener.seen)


@pytest.fixture(scope="module")
def config(amqp_uri, tmp_path_factory):
    return service_config(amqp_uri, tmp_path_factory.mktemp("resource"))


@pytest.fixture(scope="module")
def rpc_(config):
    with running(config, ResourceService, FakeProject, FakeTimesheet, OverbookedListener), rpc_proxy(config) as cluster:
        yield cluster


def new_id():
    return str(uuid.uuid4())


def create_project(rpc_, status=None, manager_id=None):
    project_id = new_id()
    data = {"project_id": project_id, "name": "Bridge", "code": f"P-{project_id[:6]}",
            "manager_id": manager_id or new_id(),
            "customer": "ACME", "starts_on": "2030-01-01", "ends_on": "2030-12-31", "billable": True,
            "budget_hours": 1000, "budget_amount": "100000.00", "currency": "NOK", "hourly_rate": "1200.00"}
    rpc_.project.emit(stream=f"project-{project_id}", type="ProjectCreated", data=data)
    return project_id


def change_status(rpc_, project_id, to_status, effective_on, from_status="active"):
    return rpc_.project.emit(stream=f"project-{project_id}", type="ProjectStatusChanged",
                             data={"project_id": project_id, "from_status": from_status, "to_status": to_status,
                                   "reason": "done", "effective_on": effective_on})


def log_time(rpc_, employee_id, day, hours, project_id, billable=True, entry_id=None, kind="TimeLogged", **extra):
    entry_id = entry_id or new_id()
    data = {"entry_id": entry_id, "employee_id": employee_id, "week": "2030-W02", "project_id": project_id,
            "task_id": None, "date": day, "hours": hours, "billable": billable, "description": "work", **extra}
    if kind == "TimeEntryDeleted":  # as the timesheet service records it: the entry's state, no description
        data.pop("description")
    rpc_.timesheet.emit(stream=f"timesheet-{employee_id}_2030W02", type=kind, data=data)
    return entry_id
