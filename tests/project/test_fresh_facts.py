"""A resource deactivated a moment ago is never taken as an active manager or member.

The resource service here is quiet: its events reach its feed at once but are not published over AMQP
for an hour, and the project service's periodic catch-up is an hour away too. The project service can
know of a deactivation only by pulling the resource feed before it checks.
"""
import uuid

import pytest

from services.project.service import ProjectService
from shared.entrypoints import rpc
from shared.errors import RuleViolation
from shared.events import EventRegistry
from shared.eventstore.base import ANY, NewEvent
from shared.kit import Chronicle
from shared.testing import rpc_proxy, running, service_config


class QuietResourceService:
    name = "resource"
    chronicle = Chronicle(categories=["resource"], events=EventRegistry())

    @rpc
    def emit(self, stream, type, data):
        # straight into the store: the relay is not woken (and polls once an hour), the feed serves it
        self.chronicle.store.append(stream, [NewEvent(type=type, data=data, metadata={})], ANY)

    @rpc
    def events_since(self, **kwargs):
        return self.chronicle.events_since(**kwargs)


@pytest.fixture(scope="module")
def rpc_(amqp_uri, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("project-fresh")
    config = service_config(amqp_uri, data_dir, CATCHUP_INTERVAL=3600)
    quiet = service_config(amqp_uri, data_dir, POLL_INTERVAL=3600, CATCHUP_INTERVAL=3600)
    with running(quiet, QuietResourceService), running(config, ProjectService), rpc_proxy(config) as proxy:
        yield proxy


def register(rpc_):
    resource_id = str(uuid.uuid4())
    rpc_.resource.emit(stream=f"resource-{resource_id}", type="ResourceRegistered", data={
        "resource_id": resource_id, "name": "Ola Nordmann", "email": f"{resource_id}@example.com",
        "weekly_capacity_hours": 37.5, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
    return resource_id


def deactivate(rpc_, resource_id):
    rpc_.resource.emit(stream=f"resource-{resource_id}", type="ResourceDeactivated",
                       data={"resource_id": resource_id, "cancelled_booking_ids": []})


def test_a_manager_deactivated_a_moment_ago_cannot_take_a_new_project(rpc_):
    manager = register(rpc_)
    rpc_.project.create_project(name="First", code=f"F{uuid.uuid4().hex[:8]}", manager_id=manager)
    deactivate(rpc_, manager)
    with pytest.raises(RuleViolation) as err:
        rpc_.project.create_project(name="Second", code=f"S{uuid.uuid4().hex[:8]}", manager_id=manager)
    assert err.value.code == "project.manager_inactive"


def test_an_employee_deactivated_a_moment_ago_cannot_be_assigned(rpc_):
    project = rpc_.project.create_project(name="Team", code=f"T{uuid.uuid4().hex[:8]}", manager_id=register(rpc_))
    employee = register(rpc_)
    rpc_.project.assign_member(project_id=project["id"], employee_id=employee)
    deactivate(rpc_, employee)
    with pytest.raises(RuleViolation) as err:
        rpc_.project.assign_member(project_id=project["id"], employee_id=employee, role="lead")
    assert err.value.code == "project.employee_inactive"
