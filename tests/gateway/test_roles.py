"""The role table over HTTP: every route x every role (admin, manager, employee, and an employee on another
person's data). The gateway decides nothing about roles: for each request, the HTTP answer must be exactly what the
service answers the same caller over RPC (a success, or the same error: 403 for its Forbidden with the same code,
and so on). Whatever the services' role rules are, the gateway neither widens nor narrows them."""
import uuid

import pytest
import requests

from services.gateway.routes import ROUTES
from services.gateway.service import GatewayService
from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.errors import ChronicleError
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until
from tests.gateway.helpers import base_url, bearer, gateway_config

pytestmark = pytest.mark.e2e

API = "/api/v1"
WEEK, DAY = "2030-W10", "2030-03-05"
STATUS = {"ValidationError": 400, "Unauthenticated": 401, "Forbidden": 403, "NotFound": 404, "Conflict": 409,
          "RuleViolation": 422}


def cases(w):
    """(method, path, query, body) for every route; ``w`` holds the ids of the world the calls act on."""
    p, e1, e2, m = w["project"], w["e1"], w["e2"], w["manager"]
    unique = uuid.uuid4().hex[:6]
    return [
        ("GET", "/projects", {}, None),
        ("POST", "/projects", {}, {"name": "P", "code": f"C-{unique}", "manager_id": m}),
        ("GET", f"/projects/{p}", {}, None),
        ("PATCH", f"/projects/{p}", {}, {"customer": "ACME"}),
        ("POST", f"/projects/{p}/tasks", {}, {"name": "Survey"}),
        ("POST", f"/projects/{p}/tasks/{w['task']}/close", {}, None),
        ("PUT", f"/projects/{p}/members/{e2}", {}, {"role": "member"}),
        ("DELETE", f"/projects/{p}/members/{e2}", {}, None),
        ("POST", f"/projects/{p}/status", {}, {"status": "active"}),
        ("POST", f"/projects/{p}/delegations", {}, {"delegate_id": e2, "from_date": "2030-07-01",
                                                     "to_date": "2030-07-31"}),
        ("GET", f"/projects/{p}/progress", {}, None),
        ("GET", f"/projects/{p}/history", {}, None),
        ("GET", f"/projects/{p}/hours", {}, None),
        ("POST", "/time-entries", {}, {"employee_id": e1, "project_id": p, "date": DAY, "hours": 1}),
        ("PATCH", f"/time-entries/{w['entry']}", {}, {"hours": 2}),
        ("DELETE", f"/time-entries/{w['entry']}", {}, None),
        ("GET", f"/timesheets/{e1}/{WEEK}", {}, None),
        ("GET", f"/timesheets/{e1}/{WEEK}/history", {}, None),
        ("POST", f"/timesheets/{e1}/{WEEK}/submit", {}, None),
        ("POST", f"/timesheets/{e1}/{WEEK}/approve", {}, None),
        ("POST", f"/timesheets/{e1}/{WEEK}/reject", {}, {"reason": "too much"}),
        ("POST", f"/timesheets/{e1}/{WEEK}/reopen", {}, {"reason": "again"}),
        ("GET", "/approvals/pending", {}, None),
        ("POST", "/period-locks", {}, {"through_date": "2001-01-07"}),
        ("GET", "/period-locks", {}, None),
        ("POST", "/period-locks/unlock", {}, {"through_date": "2001-01-01", "reason": "a correction"}),
        ("GET", "/resources", {}, None),
        ("POST", "/resources", {}, {"name": "New", "email": f"new-{unique}@roles.example"}),
        ("GET", f"/resources/{e1}", {}, None),
        ("PATCH", f"/resources/{e1}", {}, {"title": "Senior"}),
        ("POST", f"/resources/{w['spare']}/deactivate", {}, None),
        ("GET", f"/resources/{e1}/history", {}, None),
        ("POST", f"/resources/{e1}/bookings", {}, {"project_id": p, "starts_on": "2030-04-01",
                                                   "ends_on": "2030-04-02", "hours_per_day": 1}),
        ("DELETE", f"/resources/{e1}/bookings/{w['booking']}", {}, None),
        ("POST", f"/resources/{e1}/absences", {}, {"starts_on": "2030-05-06", "ends_on": "2030-05-06"}),
        ("DELETE", f"/resources/{e1}/absences/{w['absence']}", {}, None),
        ("GET", f"/resources/{e1}/availability", {"from": "2030-03-04", "to": "2030-03-08"}, None),
        ("GET", "/availability/search", {"from": "2030-03-04", "to": "2030-03-08", "hours_per_day": "1"}, None),
        ("GET", "/utilisation", {"from": "2030-03-04", "to": "2030-03-08"}, None),
        ("GET", "/me/notifications", {}, None),
        ("POST", f"/me/notifications/{uuid.uuid4()}/read", {}, None),
        ("GET", "/me/preferences", {}, None),
        ("PUT", "/me/preferences", {}, {"email": False}),
        ("GET", "/webhooks", {}, None),
        ("POST", "/webhooks", {}, {"url": "http://127.0.0.1:9/x", "event_types": ["*"]}),
        ("DELETE", f"/webhooks/{w['webhook']}", {}, None),
        ("GET", f"/webhooks/{w['webhook']}/deliveries", {}, None),
        ("POST", f"/webhook-deliveries/{uuid.uuid4()}/redeliver", {}, None),
        ("GET", "/exports/hours", {"from": "2030-03-01", "to": "2030-03-31"}, None),
        ("GET", "/events", {}, None),
    ]


def rpc_twin(method, path, query, body, subject, command_id):
    """The RPC the route calls, with the arguments the gateway builds: (service, method, kwargs)."""
    from services.gateway.service import ROUTING

    if path == "/events":
        return "project", "events_since", {"position": 0, "limit": 100}
    if path == "/exports/hours":
        return "timesheet", "export_hours", {"from_date": query["from"], "to_date": query["to"], "limit": 1000}
    index, values = ROUTING.bind("").match(path, method=method)
    route = ROUTES[index]
    fields = route.schema._declared_fields
    kwargs = {route.renamed.get(k, k): v for k, v in query.items()}
    if "hours_per_day" in kwargs:
        kwargs["hours_per_day"] = int(kwargs["hours_per_day"])
    kwargs.update(body or {}, **values)
    kwargs.update({name: subject for name in route.caller if name in fields})
    if route.is_command:
        kwargs["command_id"] = command_id
    return route.service, route.rpc, kwargs


def test_every_route_for_every_role_answers_what_the_service_answers_that_caller(isolated_amqp_uri, tmp_path):
    config = gateway_config(service_config(isolated_amqp_uri, tmp_path, WEBHOOK_ALLOW_PRIVATE="true"),
                            GATEWAY_RATE_LIMIT=100_000)
    with running(config, GatewayService, ProjectService, TimesheetService, ResourceService, NotificationService), \
            rpc_proxy(config) as admin_rpc:
        w = {}
        for key in ("manager", "e1", "e2", "spare"):
            w[key] = admin_rpc.resource.register_resource(name=key, email=f"{key}@roles.example")["id"]
        w["project"] = admin_rpc.project.create_project(name="Roles", code="ROLES", manager_id=w["manager"])["id"]
        w["task"] = admin_rpc.project.add_task(project_id=w["project"], name="T")["id"]
        admin_rpc.project.assign_member(project_id=w["project"], employee_id=w["e1"])
        w["entry"] = wait_until(lambda: admin_rpc.timesheet.log_time(
            employee_id=w["e1"], project_id=w["project"], date=DAY, hours=3)["id"], timeout=20,
            ignore=(ChronicleError,))
        w["booking"] = admin_rpc.resource.book_resource(resource_id=w["e1"], project_id=w["project"],
                                                        starts_on="2030-03-11", ends_on="2030-03-11",
                                                        hours_per_day=1)["id"]
        w["absence"] = admin_rpc.resource.register_absence(resource_id=w["e1"], starts_on="2030-06-03",
                                                           ends_on="2030-06-03")["id"]
        w["webhook"] = admin_rpc.notification.register_webhook(url="http://127.0.0.1:9/y",
                                                               event_types=["*"])["id"]
        callers = {  # role -> its subject; "other" is an employee acting on e1's data
            "admin": str(uuid.uuid4()), "manager": w["manager"], "employee": w["e1"], "other": w["e2"]}
        tokens = {name: issue_token(config, subject, "employee" if name == "other" else name)
                  for name, subject in callers.items()}

        table, covered, mismatches = {}, set(), []
        for method, path, query, body in cases(w):
            for name, subject in callers.items():
                key = str(uuid.uuid4())
                response = requests.request(method, base_url(config) + API + path, params=query, json=body,
                                            headers={**bearer(tokens[name]), "Idempotency-Key": key}, timeout=30)
                service, rpc_name, kwargs = rpc_twin(method, path, query, body, subject, key)
                covered.add((service, rpc_name))
                with rpc_proxy(config, token=tokens[name]) as rpc:
                    try:
                        getattr(getattr(rpc, service), rpc_name)(**kwargs)
                        expected, code = "2xx", None
                    except ChronicleError as exc:
                        expected, code = STATUS[type(exc).__name__], exc.code
                got = "2xx" if 200 <= response.status_code < 300 else response.status_code
                got_code = response.json().get("code") if got != "2xx" else None
                table[(method, path, name)] = got
                if (got, got_code) != (expected, code):
                    mismatches.append(f"{name} {method} {path}: HTTP {got} {got_code}, RPC {expected} {code}")
        assert not mismatches, "\n".join(mismatches)
        assert covered >= {(route.service, route.rpc) for route in ROUTES}  # every route, for every role
        # what the services refuse today, over HTTP too: the feed is for admins (and services) only
        assert [table[("GET", "/events", n)] for n in ("admin", "manager", "employee")] == ["2xx", 403, 403]
