"""The gateway's HTTP conventions, over real HTTP against the gateway and real services on the real broker:
authentication, problem+json errors with their statuses, bad bodies, ETag and If-Match, Idempotency-Key,
pages, the rate limit, a service that does not answer, /health and /openapi.json."""
import uuid

import eventlet
import pytest
import requests

from services.gateway.service import GatewayService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from shared.testing import issue_token, running, service_config
from tests.gateway.helpers import base_url, bearer, gateway_config

API = "/api/v1"


@pytest.fixture
def gateway(isolated_amqp_uri, tmp_path):
    config = gateway_config(service_config(isolated_amqp_uri, tmp_path))
    with running(config, GatewayService, ProjectService, ResourceService):
        yield config


def http(config, method, path, token=None, **kwargs):
    headers = dict(kwargs.pop("headers", {}))
    if token:
        headers.update(bearer(token))
    return requests.request(method, base_url(config) + path, headers=headers, timeout=30, **kwargs)


def is_problem(response, status, code=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body


def test_every_route_but_health_and_openapi_wants_a_valid_bearer_token(gateway):
    for headers, code in (({}, "auth.missing"), ({"Authorization": "Bearer nonsense"}, "auth.invalid"),
                          ({"Authorization": "Basic dXNlcjpwYXNz"}, "auth.invalid")):
        response = http(gateway, "GET", API + "/projects", headers=headers)
        is_problem(response, 401, code)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    response = http(gateway, "POST", API + "/projects", json={"name": "x"})
    is_problem(response, 401, "auth.missing")
    assert http(gateway, "GET", "/openapi.json").status_code == 200
    assert http(gateway, "GET", "/health").status_code in (200, 503)


def test_a_revoked_token_is_refused(isolated_amqp_uri, tmp_path):
    from shared.testing import token_book

    config = gateway_config(service_config(isolated_amqp_uri, tmp_path), TOKEN_REFRESH_SECONDS=0)
    with running(config, GatewayService, ResourceService):
        book = token_book(config)
        token_id, token = book.issue(str(uuid.uuid4()), "admin")
        assert http(config, "GET", API + "/resources", token).status_code == 200
        book.revoke(token_id)
        is_problem(http(config, "GET", API + "/resources", token), 401, "auth.revoked")


def test_errors_are_problems_with_the_statuses_of_the_service_errors(gateway):
    token = issue_token(gateway, str(uuid.uuid4()))
    # 400 with the field errors, from the service's own validation
    body = is_problem(http(gateway, "POST", API + "/resources", token, json={"name": "", "email": "no"}), 400,
                      "validation_failed")
    assert set(body["errors"]) == {"name", "email"}
    # a field the route does not take
    body = is_problem(http(gateway, "GET", API + "/projects?colour=red", token), 400, "validation_failed")
    assert body["errors"] == {"colour": ["Unknown field."]}
    # 404
    is_problem(http(gateway, "GET", API + f"/projects/{uuid.uuid4()}", token), 404)
    is_problem(http(gateway, "GET", API + "/no-such-thing", token), 404, "not_found")
    response = http(gateway, "DELETE", API + "/projects", token)
    is_problem(response, 405)
    assert "GET" in response.headers["Allow"]
    # 409: a project code taken
    manager = http(gateway, "POST", API + "/resources", token, json={"name": "Mona", "email": "mona@gw.example"})
    assert manager.status_code == 201, manager.text
    project = {"name": "Quay", "code": "QUAY", "manager_id": manager.json()["id"]}
    assert http(gateway, "POST", API + "/projects", token, json=project).status_code == 201
    is_problem(http(gateway, "POST", API + "/projects", token, json=project), 409, "project.code_taken")
    # 422: a rule of the domain (booking a person on a project that is not active)
    on_hold = http(gateway, "POST", API + "/projects", token, json=dict(project, code="HOLD")).json()
    assert http(gateway, "POST", API + f"/projects/{on_hold['id']}/status", token,
                json={"status": "on_hold"}).status_code == 200
    booking = {"project_id": on_hold["id"], "starts_on": "2030-01-07", "ends_on": "2030-01-07", "hours_per_day": 2}
    is_problem(http(gateway, "POST", API + f"/resources/{manager.json()['id']}/bookings", token, json=booking), 422)


def test_bad_bodies_are_refused_before_any_service_is_asked(gateway):
    token = issue_token(gateway, str(uuid.uuid4()))
    url = API + "/resources"
    is_problem(http(gateway, "POST", url, token, data="{not json", headers={"Content-Type": "application/json"}),
               400, "malformed_json")
    is_problem(http(gateway, "POST", url, token, data="[1, 2]", headers={"Content-Type": "application/json"}),
               400, "malformed_json")
    is_problem(http(gateway, "POST", url, token, data='{"weekly_capacity_hours": NaN}',
                    headers={"Content-Type": "application/json"}), 400, "malformed_json")
    is_problem(http(gateway, "POST", url, token, data="name=x", headers={"Content-Type": "text/plain"}), 415)
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    is_problem(http(gateway, "POST", url, token, data=big, headers={"Content-Type": "application/json"}), 413)
    chunks = iter([b'{"name": "A", ', b'"email": "a@chunks.example"}'])  # no Content-Length: chunked
    is_problem(http(gateway, "POST", url, token, data=chunks, headers={"Content-Type": "application/json"}), 411)
    assert http(gateway, "GET", url, token).json() == []  # nothing was created


def test_etag_and_if_match_guard_a_change_against_a_stale_version(gateway):
    token = issue_token(gateway, str(uuid.uuid4()))
    manager = http(gateway, "POST", API + "/resources", token, json={"name": "M", "email": "m@etag.example"}).json()
    created = http(gateway, "POST", API + "/projects", token,
                   json={"name": "Dock", "code": "DOCK", "manager_id": manager["id"]}).json()
    url = API + f"/projects/{created['id']}"
    etag = http(gateway, "GET", url, token).headers["ETag"]
    assert etag == f'"{created["version"]}"'
    changed = http(gateway, "PATCH", url, token, json={"name": "Dock 2"}, headers={"If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] != etag and changed.json()["name"] == "Dock 2"
    is_problem(http(gateway, "PATCH", url, token, json={"name": "Dock 3"}, headers={"If-Match": etag}), 412)
    assert http(gateway, "GET", url, token).json()["name"] == "Dock 2"
    is_problem(http(gateway, "PATCH", url, token, json={"name": "Dock 3"}, headers={"If-Match": "yesterday"}), 400)


def test_if_match_guards_a_change_to_a_person_too(gateway):
    token = issue_token(gateway, str(uuid.uuid4()))
    person = http(gateway, "POST", API + "/resources", token, json={"name": "P", "email": "p@etag.example"}).json()
    url = API + f"/resources/{person['id']}"
    etag = http(gateway, "GET", url, token).headers["ETag"]
    changed = http(gateway, "PATCH", url, token, json={"title": "Lead"}, headers={"If-Match": etag})
    assert changed.status_code == 200, changed.text
    is_problem(http(gateway, "PATCH", url, token, json={"title": "Boss"}, headers={"If-Match": etag}), 412)
    assert http(gateway, "GET", url, token).json()["title"] == "Lead"


def test_a_retried_post_with_the_same_idempotency_key_creates_nothing_twice(gateway):
    token = issue_token(gateway, str(uuid.uuid4()))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = http(gateway, "POST", API + "/resources", token, json={"name": "A", "email": "a@idem.example"},
                 headers=key)
    again = http(gateway, "POST", API + "/resources", token, json={"name": "A", "email": "a@idem.example"},
                 headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len(http(gateway, "GET", API + "/resources", token).json()) == 1


def test_lists_come_in_pages_linked_to_the_next(gateway):
    token = issue_token(gateway, str(uuid.uuid4()))
    for n in range(5):
        assert http(gateway, "POST", API + "/resources", token,
                    json={"name": f"P{n}", "email": f"p{n}@pages.example"}).status_code == 201
    names, url = [], base_url(gateway) + API + "/resources?limit=2"
    while url:
        response = requests.get(url, headers=bearer(token), timeout=30)
        assert response.status_code == 200 and len(response.json()) <= 2
        names += [r["name"] for r in response.json()]
        url = response.links.get("next", {}).get("url")
    assert names == [f"P{n}" for n in range(5)]
    is_problem(http(gateway, "GET", API + "/resources?cursor=bogus", token), 400, "validation_failed")


def test_a_token_over_its_rate_gets_429_with_retry_after(isolated_amqp_uri, tmp_path):
    config = gateway_config(service_config(isolated_amqp_uri, tmp_path), GATEWAY_RATE_LIMIT=3)
    with running(config, GatewayService, ResourceService):
        token, other = issue_token(config, str(uuid.uuid4())), issue_token(config, str(uuid.uuid4()))
        statuses = [http(config, "GET", API + "/resources", token).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = http(config, "GET", API + "/resources", token)
        is_problem(response, 429, "rate_limited")
        assert int(response.headers["Retry-After"]) >= 1
        assert http(config, "GET", API + "/resources", other).status_code == 200  # per token


def test_a_service_that_does_not_answer_in_time_gives_503(isolated_amqp_uri, tmp_path):
    from nameko.rpc import rpc

    release = eventlet.Event()

    class StuckProject:
        name = "project"

        @rpc
        def list_projects(self, **kwargs):
            release.wait()
            return []

    config = gateway_config(service_config(isolated_amqp_uri, tmp_path), GATEWAY_RPC_TIMEOUT=0.5)
    with running(config, GatewayService, StuckProject):
        token = issue_token(config, str(uuid.uuid4()))
        is_problem(http(config, "GET", API + "/projects", token), 503, "service_unavailable")
        is_problem(http(config, "GET", API + "/resources", token), 503, "service_unavailable")  # not running
        release.send(True)


def test_health_says_which_services_answer_without_a_token(gateway):
    response = http(gateway, "GET", "/health")
    assert response.status_code == 503  # timesheet and notification do not run here
    assert response.json() == {"status": "degraded", "services": {
        "project": "reachable", "timesheet": "unreachable", "resource": "reachable", "notification": "unreachable"}}


def test_openapi_describes_every_route_with_its_security(gateway):
    from services.gateway.routes import ROUTES

    document = http(gateway, "GET", "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for route in ROUTES:
        path = API + route.path.replace("<", "{").replace(">", "}")
        operation = document["paths"][path][route.method.lower()]
        assert operation["security"] == [{"bearer": []}]
        assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == set(route.path_fields)
        assert "401" in operation["responses"]
    assert document["paths"]["/health"]["get"]["security"] == []
    # every success body is typed: an object (or a list of them) with its fields, and no others
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            success = next(answer for status, answer in operation["responses"].items() if status.startswith("2"))
            schema = success["content"]["application/json"]["schema"]
            item = schema["items"] if schema.get("type") == "array" else schema
            assert item.get("type") == "object" and item["properties"], (method, path, schema)
            assert item["required"] and item["additionalProperties"] is False, (method, path, schema)


def test_the_feed_asks_each_service_for_its_own_types_and_pages_them_in_order(gateway):
    # the gateway runs here with the project and resource services only: a feed that asked the timesheet or
    # notification service would answer 503
    token = issue_token(gateway, str(uuid.uuid4()))

    def register(name):
        return http(gateway, "POST", API + "/resources", token,
                    json={"name": name, "email": f"{name}-{uuid.uuid4().hex[:6]}@feed.example"}).json()["id"]

    people = [register(f"p{n}") for n in range(3)]
    created = http(gateway, "POST", API + "/projects", token,
                   json={"name": "Feed", "code": f"F-{uuid.uuid4().hex[:6]}", "manager_id": people[0]})
    assert created.status_code == 201, created.text
    people += [register(f"p{n}") for n in range(3, 5)]

    # the one ProjectCreated comes on the first page, though five events of other types were recorded around it
    page = http(gateway, "GET", API + "/events", token, params={"types": "ProjectCreated", "limit": 1}).json()
    assert [(e["service"], e["type"]) for e in page["events"]] == [("project", "ProjectCreated")]
    assert page["more"] is False
    after = http(gateway, "GET", API + "/events", token, params={"types": "ProjectCreated", "after": page["next"]})
    assert after.json()["events"] == [] and after.json()["more"] is False

    # two services' types, two at a time: all of them, each once, in the order they were recorded
    seen, cursor, more = [], None, True
    while more:
        page = http(gateway, "GET", API + "/events", token, params={
            "types": "ResourceRegistered,ProjectCreated", "limit": 2, **({"after": cursor} if cursor else {})}).json()
        assert len(page["events"]) <= 2
        seen += page["events"]
        cursor, more = page["next"], page["more"]
    assert [e["type"] for e in seen] == ["ResourceRegistered"] * 3 + ["ProjectCreated"] + ["ResourceRegistered"] * 2
    assert [e["data"]["resource_id"] for e in seen if e["type"] == "ResourceRegistered"] == people

    # a type that no service publishes (or keeps internal) is refused, as each service refuses it
    for types in ("NoSuchEvent", "ProjectCreated,EmailReserved"):
        body = is_problem(http(gateway, "GET", API + "/events", token, params={"types": types}), 400,
                          "validation_failed")
        assert set(body["errors"]) == {"types"}
