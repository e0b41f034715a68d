"""The money rules of the project service without I/O: the Client aggregate, billing rates set from a date on a
project, and the priced time-entry read model (a rate change from a date reprices only the entries on or after
it). Given events, when a command (or an event), then what is recorded (or shown)."""
from datetime import datetime, timezone

import pytest

from services.project.clients import Client
from services.project.domain import Project
from services.project.events import events as registry
from services.project.projections import TimeEntriesView, priced_entries, project_figures, used_cents
from services.resource.events import events as resource_registry
from services.timesheet.events import events as timesheet_registry
from shared.errors import Conflict, NotFound, ValidationError
from shared.eventstore.base import RecordedEvent
from shared.projections import ViewStore
from shared.testing import given, recorded

CID, PID, EMP, TASK = "c-1", "p-1", "e-1", "t-1"


def assert_valid(aggregate):
    for event_type, data in recorded(aggregate):
        registry.validate(event_type, data)


def client_created(**overrides):
    data = dict(client_id=CID, name="Port AS", org_number=None, currency="NOK", default_rate="900.00",
                contact_email=None)
    return ("ClientCreated", data | overrides)


def project_created(**overrides):
    data = dict(project_id=PID, name="Harbour", code="HB-1", manager_id="m-1", customer=None, starts_on=None,
                ends_on=None, billable=True, budget_hours=None, budget_amount=None, currency="NOK", hourly_rate=None,
                client_id=CID)
    return ("ProjectCreated", data | overrides)


# -- the Client aggregate ---------------------------------------------------------------------------
def test_a_client_is_created_once():
    client = given(Client, CID)
    client.create(name="Port AS", currency="NOK", default_rate="900.00")
    assert recorded(client) == [("ClientCreated", {"client_id": CID, "name": "Port AS", "org_number": None,
                                                   "currency": "NOK", "default_rate": "900.00",
                                                   "contact_email": None})]
    assert_valid(client)
    with pytest.raises(Conflict) as again:
        given(Client, CID, client_created()).create(name="Port AS")
    assert again.value.code == "client.exists"


def test_an_update_records_only_what_changes():
    client = given(Client, CID, client_created())
    client.update({"name": "Port AS", "contact_email": "ap@port.example"})
    assert recorded(client) == [("ClientUpdated", {"client_id": CID, "changes": {"contact_email": "ap@port.example"},
                                                   "previous": {"contact_email": None}})]
    client.pending.clear()
    client.update({"contact_email": "ap@port.example"})
    assert recorded(client) == []
    with pytest.raises(NotFound):
        given(Client, CID).update({"name": "x"})


def test_a_client_rate_from_a_date_keeps_the_default_and_the_chain():
    client = given(Client, CID, client_created(), ("ClientRateSet", dict(client_id=CID, rate="950.00",
                                                                         effective_from="2026-06-01")))
    assert client.to_dict()["default_rate"] == "900.00"
    assert client.rates.rate_on("2026-05-31") == client.rates.rate_on("2026-01-01")
    assert str(client.rates.rate_on("2026-06-01")) == "950.00"
    client.set_rate("950.00", "2026-06-01")
    assert recorded(client) == []  # the same rate from the same date
    client.set_rate(None, "2026-09-01")
    assert recorded(client) == [("ClientRateSet", {"client_id": CID, "rate": None, "effective_from": "2026-09-01"})]
    assert_valid(client)


# -- billing rates on a project ---------------------------------------------------------------------
def test_set_rate_names_the_project_a_task_or_a_member():
    project = given(Project, PID, project_created(),
                    ("TaskAdded", dict(project_id=PID, task_id=TASK, name="Design", estimate_hours=None,
                                       billable=None)),
                    ("MemberAssigned", dict(project_id=PID, project_code="HB-1", project_name="Harbour",
                                            employee_id=EMP, role="member", hourly_rate=None)))
    project.set_rate("project", None, "1000.00", "2026-01-01")
    project.set_rate("task", TASK, "1100.00", "2026-02-01")
    project.set_rate("member", EMP, None, "2026-03-01")
    assert [d for _, d in recorded(project)] == [
        {"project_id": PID, "scope": "project", "subject_id": None, "rate": "1000.00", "effective_from": "2026-01-01"},
        {"project_id": PID, "scope": "task", "subject_id": TASK, "rate": "1100.00", "effective_from": "2026-02-01"},
        {"project_id": PID, "scope": "member", "subject_id": EMP, "rate": None, "effective_from": "2026-03-01"}]
    assert_valid(project)
    project.pending.clear()
    project.set_rate("project", None, "1000.00", "2026-01-01")
    assert recorded(project) == []  # that rate from that date already
    with pytest.raises(NotFound) as no_task:
        project.set_rate("task", "t-2", "1.00", "2026-01-01")
    assert no_task.value.code == "project.task_not_found"
    with pytest.raises(NotFound) as no_member:
        project.set_rate("member", "e-2", "1.00", "2026-01-01")
    assert no_member.value.code == "project.member_not_found"
    with pytest.raises(ValidationError):
        project.set_rate("project", TASK, "1.00", "2026-01-01")


def test_a_project_without_client_names_the_legacy_client_of_its_customer():
    from shared.money import legacy_client_id

    project = given(Project, PID)
    project.create(name="Harbour", code="HB-1", manager_id="m-1", customer="Port AS")
    assert recorded(project)[0][1]["client_id"] == legacy_client_id("Port AS")
    old = RecordedEvent(id="1", stream=f"project-{PID}", version=0, position=1, type="ProjectCreated",
                        schema_version=1, data={"customer": "port  as"}, recorded_at=datetime.now(timezone.utc),
                        metadata={})
    assert registry.upcast(old).data["client_id"] == legacy_client_id("Port AS")  # a v1 event, as the upcaster reads it


# -- the priced read model --------------------------------------------------------------------------
class View:
    def __init__(self, tmp_path):
        self.views, self.view, self.position = ViewStore(str(tmp_path / "v.db")), TimeEntriesView(), 0
        with self.views.transaction() as db:
            self.view.setup(db)

    def __call__(self, registry_, event_type, data):
        assert registry_.validate(event_type, data)
        self.position += 1
        event = RecordedEvent(id=str(self.position), stream="s-1", version=0, position=self.position,
                              type=event_type, schema_version=registry_.current_version(event_type), data=data,
                              recorded_at=datetime.now(timezone.utc), metadata={})
        with self.views.transaction() as db:
            self.view.apply(db, event)
        return self.position

    def log(self, entry_id, day, hours, billable=True, task_id=None):
        return self(timesheet_registry, "TimeLogged", dict(
            entry_id=entry_id, employee_id=EMP, week="2026-W10", project_id=PID, task_id=task_id, date=day,
            hours=hours, billable=billable, description=""))

    def amounts(self):
        return {e["entry_id"]: (e["billable_amount"], e["cost_amount"])
                for e in self.views.read(lambda db: priced_entries(db, PID))}


@pytest.fixture
def view(tmp_path):
    view = View(tmp_path)
    view(registry, *client_created())
    view(registry, *project_created())
    return view


def test_a_rate_change_from_a_date_reprices_only_the_entries_on_or_after_it(view):
    view.log("before", "2026-03-02", 2)
    view.log("on", "2026-03-04", 1)
    view.log("after", "2026-03-05", 1.5, billable=False)
    view(resource_registry, "CostRateSet", dict(resource_id=EMP, rate="500.00", currency="NOK",
                                                effective_from="2026-01-01"))
    assert view.amounts() == {"before": ("1800.00", "1000.00"), "on": ("900.00", "500.00"),
                              "after": ("0.00", "750.00")}
    view(registry, "BillingRateSet", dict(project_id=PID, scope="project", subject_id=None, rate="1000.00",
                                          effective_from="2026-03-04"))
    view(resource_registry, "CostRateSet", dict(resource_id=EMP, rate="600.00", currency="NOK",
                                                effective_from="2026-03-05"))
    assert view.amounts() == {"before": ("1800.00", "1000.00"), "on": ("1000.00", "500.00"),
                              "after": ("0.00", "900.00")}
    figures = view.views.read(lambda db: project_figures(db, PID))
    assert (figures["revenue_cents"], figures["cost_cents"]) == (280000, 240000)


def test_the_money_used_as_of_an_event_is_what_was_known_then(view):
    first = view.log("a", "2026-03-02", 1)  # 900.00
    second = view.log("b", "2026-03-03", 1)  # 900.00
    repriced = view(registry, "ClientRateSet", dict(client_id=CID, rate="1000.00", effective_from="2026-03-03"))
    used = lambda as_of: view.views.read(lambda db: used_cents(db, PID, as_of=as_of))  # noqa: E731
    assert (used(first), used(second), used(repriced), used(None)) == (90000, 180000, 190000, 190000)


def test_half_a_cent_rounds_up_once_per_entry(view):
    view(registry, "BillingRateSet", dict(project_id=PID, scope="project", subject_id=None, rate="0.50",
                                          effective_from="2026-01-01"))
    view.log("a", "2026-03-02", 0.01)  # 0.005 -> 0.01
    view.log("b", "2026-03-02", 0.03)  # 0.015 -> 0.02
    assert view.amounts() == {"a": ("0.01", "0.00"), "b": ("0.02", "0.00")}
