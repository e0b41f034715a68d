"""Cost rates (issue 16): what an hour of a person costs the company, from a date. The domain given/when/then, then
the service over a real container and RabbitMQ: set, read, the chain of changes, and the event on the feed."""
import pytest

from services.resource.domain import Resource
from services.resource.events import events as registry
from shared.errors import NotFound, ValidationError
from shared.testing import given, recorded
from tests.resource.conftest import new_id

RID = "r-1"
REGISTERED = ("ResourceRegistered", dict(resource_id=RID, name="Kari", email="k@example.com",
                                         weekly_capacity_hours=37.5, skills=[], working_days=[1, 2, 3, 4, 5],
                                         title=None))


def test_a_cost_rate_is_set_from_a_date_and_the_same_again_records_nothing():
    resource = given(Resource, RID, REGISTERED)
    resource.set_cost_rate("600.00", "NOK", "2026-01-01")
    assert recorded(resource) == [("CostRateSet", {"resource_id": RID, "rate": "600.00", "currency": "NOK",
                                                   "effective_from": "2026-01-01"})]
    for event_type, data in recorded(resource):
        registry.validate(event_type, data)
    resource.pending.clear()
    resource.set_cost_rate("600.00", "NOK", "2026-01-01")
    assert recorded(resource) == []
    resource.set_cost_rate(None, "NOK", "2026-06-01")  # none from June
    assert recorded(resource)[0][1]["rate"] is None


def test_an_unknown_resource_has_no_cost_rate():
    with pytest.raises(NotFound) as missing:
        given(Resource, RID).set_cost_rate("1.00", "NOK", "2026-01-01")
    assert missing.value.code == "resource.not_found"


def test_set_cost_rate_and_cost_rates_keep_the_chain(rpc_):
    rid = rpc_.resource.register_resource(name="Kari", email=f"{new_id()[:8]}@costs.example")["id"]
    first = rpc_.resource.set_cost_rate(resource_id=rid, rate="600.00", effective_from="2026-01-01",
                                        command_id=f"cost-{rid}")
    assert rpc_.resource.set_cost_rate(resource_id=rid, rate="600.00", effective_from="2026-01-01",
                                       command_id=f"cost-{rid}") == first  # a retry: nothing new
    rpc_.resource.set_cost_rate(resource_id=rid, rate="650", currency="NOK", effective_from="2026-07-01")
    last = rpc_.resource.set_cost_rate(resource_id=rid, rate="640.00", effective_from="2026-07-01")
    got = rpc_.resource.cost_rates(resource_id=rid)
    assert [(r["effective_from"], r["rate"]) for r in got["rates"]] == [("2026-01-01", "600.00"),
                                                                         ("2026-07-01", "640.00")]
    assert [(h["effective_from"], h["rate"], h["actor"]) for h in got["history"]] == [
        ("2026-01-01", "600.00", "admin-of-tests"), ("2026-07-01", "650.00", "admin-of-tests"),
        ("2026-07-01", "640.00", "admin-of-tests")]
    [event] = rpc_.resource.events_since(position=last["position"] - 1, limit=1)["events"]
    assert (event["type"], event["data"]) == ("CostRateSet", {"resource_id": rid, "rate": "640.00",
                                                              "currency": "NOK", "effective_from": "2026-07-01"})


def test_cost_rate_arguments_are_validated(rpc_):
    rid = rpc_.resource.register_resource(name="Kari", email=f"{new_id()[:8]}@costs.example")["id"]
    for bad in ({"rate": "-1"}, {"rate": "1.001"}, {"currency": "kr"}, {"effective_from": "2026-13-01"},
                {"rate": True}):
        with pytest.raises(ValidationError):
            rpc_.resource.set_cost_rate(**{"resource_id": rid, "rate": "1.00", "effective_from": "2026-01-01",
                                           **bad})
    with pytest.raises(NotFound):
        rpc_.resource.set_cost_rate(resource_id=new_id(), rate="1.00", effective_from="2026-01-01")
    with pytest.raises(NotFound):
        rpc_.resource.cost_rates(resource_id=new_id())
