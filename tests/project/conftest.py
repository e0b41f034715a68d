"""One running project service (with fake resource and timesheet services) per test module."""
import uuid

import pytest

from services.project.service import ProjectService
from shared.testing import fake_source, rpc_proxy, running, service_config

FakeResource = fake_source("resource")
FakeTimesheet = fake_source("timesheet", ["timesheet", "timesheetlock"])


class Env:
    def __init__(self, config, rpc, data_dir, runner):
        self.config, self.rpc, self.data_dir, self.runner = config, rpc, data_dir, runner

    def kit(self):
        """The project container's Chronicle dependency (for rebuild tests)."""
        container = next(c for c in self.runner.containers if c.service_name == "project")
        return next(d for d in container.dependencies if d.attr_name == "chronicle")

    def resource(self, active=True):
        """A resource the project service may learn about (published and in the resource feed)."""
        resource_id = str(uuid.uuid4())
        self.rpc.resource.emit(stream=f"resource-{resource_id}", type="ResourceRegistered", data={
            "resource_id": resource_id, "name": "Kari Nordmann", "email": f"{resource_id}@example.com",
            "weekly_capacity_hours": 37.5, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
        if not active:
            self.deactivate(resource_id)
        return resource_id

    def deactivate(self, resource_id):
        self.rpc.resource.emit(stream=f"resource-{resource_id}", type="ResourceDeactivated",
                               data={"resource_id": resource_id, "cancelled_booking_ids": []})

    def project(self, **overrides):
        args = {"name": "Harbour", "code": f"P{uuid.uuid4().hex[:8]}", "manager_id": self.resource()}
        args.update(overrides)
        return self.rpc.project.create_project(**args)

    def head(self):
        return self.rpc.project.events_since(position=0, limit=1)["head"]


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("project")
    config = service_config(amqp_uri, data_dir)
    with running(config, ProjectService, FakeResource, FakeTimesheet) as runner, rpc_proxy(config) as rpc:
        yield Env(config, rpc, data_dir, runner)
