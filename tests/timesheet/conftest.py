"""One running timesheet service (with a fake project service) per test module."""
import contextlib
import uuid

import pytest

from services.timesheet.service import TimesheetService
from shared.config import eventstore_uri
from shared.eventstore import open_store
from shared.eventstore.base import ANY, NewEvent
from shared.testing import fake_source, issue_token, rpc_proxy, running, service_config

FakeProject = fake_source("project")
FakeResource = fake_source("resource")  # people's names for the exports


class Env:
    def __init__(self, config, rpc, proxies: contextlib.ExitStack):
        self.config, self.rpc = config, rpc  # rpc: an admin's
        self._proxies, self._open = proxies, {}

    def as_(self, subject, role="employee"):
        """The timesheet service as ``subject`` with ``role`` sees it (one proxy per person, kept for the module)."""
        if (subject, role) not in self._open:
            token = issue_token(self.config, subject, role, service=role == "service")
            self._open[subject, role] = self._proxies.enter_context(rpc_proxy(self.config, token=token))
        return self._open[subject, role].timesheet

    def emit(self, project_id, type, **data):
        return self.rpc.project.emit(stream=f"project-{project_id}", type=type,
                                     data={"project_id": project_id, **data})

    def commit(self, project_id, type, **data):
        """A change committed in the project service's store (its feed serves it at once) that is not
        published yet: its relay only sees it at its next poll, so our read model is stale meanwhile."""
        store = open_store(eventstore_uri("project", self.config))
        try:
            store.append(f"project-{project_id}", [NewEvent(type=type, data={"project_id": project_id, **data})], ANY)
        finally:
            store.close()

    def project(self, members=(), manager_id=None, starts_on=None, ends_on=None, billable=True, code=None,
                customer="Acme"):
        """A project as the project service would publish it, with its members."""
        project_id = str(uuid.uuid4())
        code = code or f"P-{project_id[:6]}"
        self.emit(project_id, "ProjectCreated", name=f"Project {code}", code=code,
                  manager_id=manager_id or str(uuid.uuid4()), customer=customer, starts_on=starts_on,
                  ends_on=ends_on, billable=billable, budget_hours=None, budget_amount=None, currency="NOK",
                  hourly_rate=None)
        for employee_id in members:
            self.member(project_id, employee_id, code)
        return project_id

    def member(self, project_id, employee_id, code="X"):
        self.emit(project_id, "MemberAssigned", project_code=code, project_name="x", employee_id=employee_id,
                  role="consultant", hourly_rate=None)

    def task(self, project_id, name="Design", billable=None):
        task_id = str(uuid.uuid4())
        self.emit(project_id, "TaskAdded", task_id=task_id, name=name, estimate_hours=None, billable=billable,
                  phase_id=None, assignee_id=None, due_on=None, status="todo")
        return task_id

    def person(self, name):
        """A person as the resource service would publish them (their name goes into the exports)."""
        resource_id = str(uuid.uuid4())
        self.rpc.resource.emit(stream=f"resource-{resource_id}", type="ResourceRegistered", data={
            "resource_id": resource_id, "name": name, "email": f"{resource_id}@example.com",
            "weekly_capacity_hours": 37.5, "skills": [], "working_days": [1, 2, 3, 4, 5], "title": "Consultant"})
        return resource_id

    def head(self):
        return self.rpc.timesheet.events_since(position=0, limit=1)["head"]


def new_id():
    return str(uuid.uuid4())


EXPORT_MAX_ROWS = 200  # an unpaged export's bound, low enough for a test to pass it


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("timesheet")
    config = service_config(amqp_uri, data_dir, EXPORT_MAX_ROWS=EXPORT_MAX_ROWS)
    with running(config, TimesheetService, FakeProject, FakeResource), rpc_proxy(config) as rpc, contextlib.ExitStack() as proxies:
        yield Env(config, rpc, proxies)
