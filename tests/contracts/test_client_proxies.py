"""The Python client's typed proxies are generated from the services' RPCs and argument schemas: they must be
current, and cover every RPC with its real arguments."""
from shared import client_proxies
from shared.catalog import CATEGORIES


def test_the_generated_proxies_are_current():
    assert not client_proxies.stale(), "clients/python/chronicle_client/services.py is stale: run `make contracts`"


def test_every_rpc_has_typed_arguments_from_its_schema():
    untyped = [f"{service}.{name}" for service in CATEGORIES
               for name, _, schema in client_proxies.rpcs(service) if schema is None]
    assert not untyped, f"RPCs whose argument schema was not found (a `load(Schema, kwargs)` call): {untyped}"


def test_required_and_optional_arguments_follow_the_schema():
    method = client_proxies._method(*next(r for r in client_proxies.rpcs("timesheet") if r[0] == "log_time"))
    assert "        employee_id: str,\n" in method and "        hours: float,\n" in method
    assert "        description: str | None = None,\n" in method and "``description`` (str, default '')" in method
