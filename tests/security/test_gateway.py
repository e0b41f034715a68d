"""Attacks through the HTTP gateway (issue 11): identity fields in the body or the query are never believed, the
``/me`` routes are the token's subject's, and another caller's ``Idempotency-Key`` answers nothing of theirs. Real
services and the gateway over real HTTP."""
import uuid

import pytest
import requests

from services.gateway.service import GatewayService
from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import issue_token, rpc_proxy, running, service_config
from tests.gateway.helpers import base_url, bearer, gateway_config

API = "/api/v1"


@pytest.fixture(scope="module")
def world(amqp_uri, tmp_path_factory):
    config = gateway_config(service_config(amqp_uri, tmp_path_factory.mktemp("gw")), GATEWAY_RATE_LIMIT=100_000)
    with running(config, GatewayService, ProjectService, TimesheetService, ResourceService, NotificationService), \
            rpc_proxy(config) as admin:
        people = {k: admin.resource.register_resource(name=k, email=f"{k}-{uuid.uuid4().hex[:6]}@gw.example")["id"]
                  for k in ("manager", "other_manager", "employee", "victim")}
        roles = {"manager": "manager", "other_manager": "manager", "employee": "employee", "victim": "employee"}
        tokens = {k: issue_token(config, people[k], roles[k]) for k in people}

        def http(method, path, who, **kwargs):
            headers = {**bearer(tokens[who]), **kwargs.pop("headers", {})}
            return requests.request(method, base_url(config) + API + path, headers=headers, timeout=30, **kwargs)

        yield {"config": config, "admin": admin, "people": people, "http": http}


def refused(response, status, code=None):
    assert response.status_code == status, response.text
    if code:
        assert response.json()["code"] == code, response.json()
    return response.json()


def test_identity_fields_in_the_query_or_body_of_me_routes_are_refused(world):
    http, victim = world["http"], world["people"]["victim"]
    world["admin"].notification.set_preferences(user_id=victim, email=True, inapp=True, muted_kinds=[])
    body = refused(http("GET", "/me/notifications", "employee", params={"user_id": victim}), 400)
    assert "user_id" in body["errors"]
    refused(http("GET", "/me/preferences", "employee", params={"user_id": victim}), 400)
    refused(http("PUT", "/me/preferences", "employee", json={"user_id": victim, "email": False}), 400)
    refused(http("POST", f"/me/notifications/{uuid.uuid4()}/read", "employee", json={"user_id": victim}), 400)
    assert world["admin"].notification.get_preferences(user_id=victim)["email"] is True
    # headers that name someone are no identity either: /me is the token's subject
    mine = http("GET", "/me/preferences", "employee", headers={"X-User-Id": victim, "X-Forwarded-User": victim})
    assert mine.status_code == 200 and mine.json()["user_id"] == world["people"]["employee"]


def test_arguments_naming_the_acting_person_are_refused_or_checked_by_the_service(world):
    http, people = world["http"], world["people"]
    week = f"/timesheets/{people['victim']}/2030-W10"
    refused(http("POST", week + "/approve", "manager", json={"approver_id": people["manager"]}), 400)
    refused(http("POST", week + "/reopen", "manager", json={"reason": "x", "actor_id": people["manager"]}), 400)
    refused(http("POST", "/period-locks", "employee", json={"through_date": "2020-01-01",
                                                            "actor_id": people["victim"]}), 400)
    refused(http("GET", "/approvals/pending", "other_manager", params={"approver_id": people["manager"]}), 403,
            "auth.impersonation")
    refused(http("GET", "/approvals/pending", "employee", params={"approver_id": people["manager"]}), 403,
            "auth.role")
    refused(http("GET", f"/timesheets/{people['victim']}/2030-W10", "employee"), 403, "auth.not_own")
    refused(http("GET", "/events", "manager"), 403, "auth.role")
    refused(http("GET", "/exports/hours", "employee", params={"from": "2030-01-01", "to": "2030-01-31"}), 403,
            "auth.role")


def test_another_callers_idempotency_key_answers_nothing_of_theirs(world):
    http, people = world["http"], world["people"]
    key = str(uuid.uuid4())
    code = f"GW-{uuid.uuid4().hex[:6]}"
    created = http("POST", "/projects", "manager", headers={"Idempotency-Key": key},
                   json={"name": "Secret", "code": code, "manager_id": people["manager"]})
    assert created.status_code == 201, created.text
    again = http("POST", "/projects", "manager", headers={"Idempotency-Key": key},
                 json={"name": "Secret", "code": code, "manager_id": people["manager"]})
    assert again.json()["id"] == created.json()["id"]
    theirs = http("POST", "/projects", "other_manager", headers={"Idempotency-Key": key},
                  json={"name": "Mine", "code": f"{code}X", "manager_id": people["other_manager"]})
    body = refused(theirs, 409, "command_id.reused")
    assert created.json()["id"] not in theirs.text and "Secret" not in theirs.text and body
