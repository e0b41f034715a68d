"""shared/rates.py: the rates read model from the project and resource services' events (their own registries build
the data, so a drift of the contract fails here), including old ProjectCreated v1 events without a client."""
from datetime import datetime, timezone

import pytest

from services.project.events import events as project_events
from services.resource.events import events as resource_events
from shared.eventstore.base import RecordedEvent
from shared.money import legacy_client_id
from shared.projections import ViewStore
from shared.rates import RatesView, client_of, employee_name, rate_chain, rates_for

P, C, T, E = "p-1", "c-1", "t-1", "e-1"


class Feed:
    def __init__(self, tmp_path):
        self.views = ViewStore(str(tmp_path / "views.db"))
        self.view = RatesView()
        self.position = 0
        with self.views.transaction() as db:
            self.view.setup(db)

    def __call__(self, registry, type_, data, version=None):
        version = version or registry.current_version(type_)
        errors = registry.schema(type_, version).validate(data)
        assert not errors, errors
        self.position += 1
        event = RecordedEvent(id=str(self.position), stream="x-1", version=0, position=self.position, type=type_,
                              schema_version=version, data=data, recorded_at=datetime.now(timezone.utc), metadata={})
        with self.views.transaction() as db:
            self.view.apply(db, event)

    def read(self, fn):
        return self.views.read(fn)


def project(**extra):
    data = dict(project_id=P, name="Harbour", code="HB-1", manager_id="m-1", customer=None, starts_on=None,
                ends_on=None, billable=True, budget_hours=None, budget_amount=None, currency="NOK",
                hourly_rate="1000.00", client_id=C)
    data.update(extra)
    return data


@pytest.fixture
def feed(tmp_path):
    return Feed(tmp_path)


def test_rates_resolve_member_task_project_client_by_date(feed):
    feed(project_events, "ClientCreated", dict(client_id=C, name="Port AS", org_number="999888777", currency="NOK",
                                               default_rate="900.00", contact_email=None))
    feed(project_events, "ProjectCreated", project(hourly_rate=None))
    day = lambda d: feed.read(lambda db: rates_for(db, P, T, E, d))  # noqa: E731
    assert day("2026-01-05") | {} == {"billing_rate": "900.00", "billing_level": "client", "cost_rate": None,
                                       "cost_currency": None, "currency": "NOK"}
    feed(project_events, "BillingRateSet", dict(project_id=P, scope="project", subject_id=None, rate="1000.00",
                                                effective_from="2026-02-01"))
    feed(project_events, "BillingRateSet", dict(project_id=P, scope="task", subject_id=T, rate="1100.00",
                                                effective_from="2026-03-01"))
    feed(project_events, "MemberAssigned", dict(project_id=P, project_code="HB-1", project_name="Harbour",
                                                employee_id=E, role="member", hourly_rate=None))
    feed(project_events, "BillingRateSet", dict(project_id=P, scope="member", subject_id=E, rate="1500.00",
                                                effective_from="2026-04-01"))
    feed(project_events, "ClientRateSet", dict(client_id=C, rate="950.00", effective_from="2026-01-10"))
    feed(resource_events, "CostRateSet", dict(resource_id=E, rate="600.00", currency="NOK",
                                              effective_from="2026-01-01"))
    assert day("2026-01-05")["billing_rate"] == "900.00"
    assert day("2026-01-10")["billing_rate"] == "950.00"
    assert day("2026-02-01")["billing_rate"] == "1000.00"
    assert day("2026-03-01")["billing_rate"] == "1100.00"
    assert day("2026-04-01")["billing_rate"] == "1500.00"
    assert day("2026-04-01")["cost_rate"] == "600.00"
    assert day("2025-12-31")["cost_rate"] is None
    assert feed.read(lambda db: rates_for(db, P, None, "e-2", "2026-04-01"))["billing_rate"] == "1000.00"
    assert [c["rate"] for c in feed.read(lambda db: rate_chain(db, "client", C))] == ["900.00", "950.00"]


def test_legacy_hourly_rates_apply_from_the_start_and_member_rates_win(feed):
    feed(project_events, "ProjectCreated", project(client_id=None))
    feed(project_events, "MemberAssigned", dict(project_id=P, project_code="HB-1", project_name="Harbour",
                                                employee_id=E, role="member", hourly_rate="1200.00"))
    assert feed.read(lambda db: rates_for(db, P, None, E, "1990-01-01"))["billing_rate"] == "1200.00"
    feed(project_events, "ProjectUpdated", dict(project_id=P, changes={"hourly_rate": "800.00"},
                                                previous={"hourly_rate": "1000.00"}))
    assert feed.read(lambda db: rates_for(db, P, None, "e-2", "2026-01-01"))["billing_rate"] == "800.00"


def test_an_old_project_without_client_names_its_legacy_client(feed):
    v1 = project(customer="Port AS")
    del v1["client_id"]
    feed(project_events, "ProjectCreated", v1, version=1)
    feed(resource_events, "ResourceRegistered", dict(resource_id=E, name="Kari Nordmann", email="k@example.com",
                                                     weekly_capacity_hours=37.5, skills=[], working_days=[1, 2, 3],
                                                     title=None))
    assert feed.read(lambda db: client_of(db, P)) == {
        "client_id": legacy_client_id("Port AS"), "client_name": "Port AS", "project_code": "HB-1",
        "project_name": "Harbour", "currency": "NOK"}
    assert feed.read(lambda db: employee_name(db, E)) == "Kari Nordmann"
    # the upcaster agrees with the read model
    assert project_events.schema("ProjectCreated", 2).validate(project(client_id=legacy_client_id("Port AS"))) == {}


def test_a_client_created_after_its_projects_were_recorded_names_them(feed):
    feed(project_events, "ProjectCreated", project())  # the client's stream recorded later, as a consumer may
    feed(project_events, "ClientCreated", dict(client_id=C, name="Port AS", org_number=None, currency="NOK",
                                               default_rate=None, contact_email=None))
    assert feed.read(lambda db: client_of(db, P))["client_name"] == "Port AS"
