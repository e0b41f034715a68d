"""The role table over HTTP: every route x every role, with the status each one must get (docs/services/*.md,
"Who may call"). The gateway decides nothing about roles, so a refusal is the service's own: 403 with the
service's code in the problem body; no token is 401 everywhere. Each role acts in a world of its own (its own
project, weeks, entries, bookings and webhook), so what one role may change never decides what another gets; and
every success body must match the route's response schema in /openapi.json."""
import uuid
from datetime import date

import jsonschema
import pytest
import requests

from services.gateway import openapi
from services.gateway.routes import ROUTES
from services.gateway.service import ROUTING, GatewayService
from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.errors import ChronicleError
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until
from tests.gateway.helpers import base_url, bearer, gateway_config

pytestmark = pytest.mark.e2e

API = "/api/v1"
ROLES = ("admin", "manager", "other_manager", "employee", "other_employee")
# "manager": the manager of the world's project; "employee": the member whose hours, bookings and notification
# the routes name (employee themself); "other_...": the same role on someone else's project or data.
OK, R, NM, NO = 200, "auth.role", "auth.not_manager", "auth.not_own"


def row(admin, manager, other_manager, employee, other_employee):
    return dict(zip(ROLES, (admin, manager, other_manager, employee, other_employee), strict=True))


EVERYONE = row(OK, OK, OK, OK, OK)
ADMINS = row(OK, R, R, R, R)
MANAGED = row(OK, OK, NM, R, R)  # project: commands, progress, history; timesheet: decisions, a project's hours
READ_PROJECT = row(OK, OK, NM, OK, NM)  # its manager and its members
OWN_HOURS = row(OK, NO, NO, OK, NO)  # log, amend, delete, submit: the employee themself
READ_WEEK = row(OK, OK, NM, OK, NO)
QUEUES = row(OK, OK, OK, R, R)  # one's own approval queue
READ_PERSON = row(OK, OK, OK, OK, NO)  # resource: a person, their history and availability


def week(n):
    """The n-th ISO week from 2030-W10, and its Tuesday."""
    monday = date.fromisocalendar(2030, 10 + n, 1)
    return f"2030-W{10 + n:02d}", date.fromisocalendar(2030, 10 + n, 2).isoformat(), monday


def cases(w):
    """(method, path, query, body, expected by role) for every route, in the order they run in a role's world
    ``w``. Expected: 200 for a success (201 where the route creates), a status, or the 403's code."""
    p, e1, e2, m = w["project"], w["e1"], w["e2"], w["manager"]
    (a, a_day, _), (b, _, _), (c, _, _), (d, _, _) = w["weeks"]
    unique = uuid.uuid4().hex[:8]

    def creating(expected):  # a route that creates answers 201
        return {role: 201 if status == OK else status for role, status in expected.items()}

    return [
        # -- projects
        ("GET", "/projects", {}, None, EVERYONE),  # filtered to one's own, never refused
        ("POST", "/projects", {}, {"name": "P", "code": f"C-{unique}", "manager_id": m},
         creating(row(OK, OK, NM, R, R))),  # a manager creates only projects they manage
        ("GET", f"/projects/{p}", {}, None, READ_PROJECT),
        ("PATCH", f"/projects/{p}", {}, {"customer": "ACME"}, MANAGED),
        ("POST", f"/projects/{p}/tasks", {}, {"name": "Survey"}, creating(MANAGED)),
        ("POST", f"/projects/{p}/tasks/{w['task']}/close", {}, None, MANAGED),
        ("PUT", f"/projects/{p}/members/{e2}", {}, {"role": "member"}, MANAGED),
        ("DELETE", f"/projects/{p}/members/{e2}", {}, None, MANAGED),
        ("POST", f"/projects/{p}/delegations", {}, {"delegate_id": e2, "from_date": "2030-07-01",
                                                     "to_date": "2030-07-31"}, creating(MANAGED)),
        ("GET", f"/projects/{p}/progress", {}, None, MANAGED),
        ("GET", f"/projects/{p}/history", {}, None, MANAGED),
        ("GET", f"/projects/{p}/hours", {}, None, MANAGED),
        # -- the plan
        ("POST", f"/projects/{p}/phases", {}, {"name": f"Phase {unique}", "budget_amount": "100.00"},
         creating(MANAGED)),
        ("GET", f"/projects/{p}/phases", {}, None, READ_PROJECT),
        ("PATCH", f"/projects/{p}/phases/{w['phase']}", {}, {"budget_hours": 10}, MANAGED),
        ("GET", f"/projects/{p}/tasks", {}, None, READ_PROJECT),
        ("PATCH", f"/projects/{p}/tasks/{w['open_task']}", {}, {"status": "doing", "assignee_id": w["e1"]}, MANAGED),
        ("POST", f"/projects/{p}/tasks/{w['task']}/reopen", {}, None, MANAGED),  # closed by the route above
        ("POST", f"/projects/{p}/milestones", {}, {"name": "Roof", "due_on": "2031-09-01", "owner_id": w["e1"]},
         creating(MANAGED)),
        ("GET", f"/projects/{p}/milestones", {}, None, READ_PROJECT),
        ("PATCH", f"/projects/{p}/milestones/{w['milestone']}", {}, {"due_on": "2031-10-01"}, MANAGED),
        ("POST", f"/projects/{p}/milestones/{w['milestone']}/complete", {}, {"completed_on": "2031-09-30"}, MANAGED),
        ("POST", f"/projects/{p}/milestones/{w['milestone']}/reopen", {}, None, MANAGED),
        ("POST", "/milestone-checks", {}, {"today": "2031-08-01"}, ADMINS),
        ("POST", f"/projects/{p}/status-reports", {}, {"week": "2031-W10", "rag": "amber", "summary": "Late.",
                                                       "risks": [{"description": "Steel", "impact": "high",
                                                                  "likelihood": "low"}]}, creating(MANAGED)),
        ("GET", f"/projects/{p}/status-reports", {}, None, READ_PROJECT),
        # -- hours: week a open, b and c submitted, d approved
        ("POST", "/time-entries", {}, {"employee_id": e1, "project_id": p, "date": a_day, "hours": 1},
         creating(OWN_HOURS)),
        ("PATCH", f"/time-entries/{w['entry']}", {}, {"hours": 2}, OWN_HOURS),
        ("DELETE", f"/time-entries/{w['entry']}", {}, None, OWN_HOURS),
        ("GET", f"/timesheets/{e1}/{a}", {}, None, READ_WEEK),
        ("GET", f"/timesheets/{e1}/{a}/history", {}, None, READ_WEEK),
        ("POST", f"/timesheets/{e1}/{a}/submit", {}, None, OWN_HOURS),
        ("POST", f"/timesheets/{e1}/{b}/approve", {}, None, MANAGED),
        ("POST", f"/timesheets/{e1}/{c}/reject", {}, {"reason": "too much"}, MANAGED),
        ("POST", f"/timesheets/{e1}/{d}/reopen", {}, {"reason": "again"}, MANAGED),
        ("GET", "/approvals/pending", {}, None, QUEUES),
        ("POST", "/period-locks", {}, {"through_date": "2001-01-07"}, creating(ADMINS)),
        ("GET", "/period-locks", {}, None, EVERYONE),
        ("POST", "/period-locks/unlock", {}, {"through_date": "2001-01-01", "reason": "a correction"}, ADMINS),
        ("GET", "/exports/hours", {"from": "2030-03-01", "to": "2030-03-31"}, None, ADMINS),
        # -- resources
        ("GET", "/resources", {}, None, EVERYONE),  # an employee sees only themself
        ("POST", "/resources", {}, {"name": "New", "email": f"new-{unique}@roles.example"}, creating(ADMINS)),
        ("GET", f"/resources/{e1}", {}, None, READ_PERSON),
        ("PATCH", f"/resources/{e1}", {}, {"title": "Senior"}, ADMINS),
        ("POST", f"/resources/{w['spare']}/deactivate", {}, None, ADMINS),
        ("GET", f"/resources/{e1}/history", {}, None, READ_PERSON),
        ("POST", f"/resources/{e1}/bookings", {}, {"project_id": p, "starts_on": w["free"], "ends_on": w["free"],
                                                   "hours_per_day": 1}, creating(MANAGED)),
        ("PATCH", f"/resources/{e1}/bookings/{w['booking']}", {}, {"hours_per_day": 2}, MANAGED),
        ("POST", f"/resources/{e1}/bookings/{w['tentative']}/confirm", {}, None, MANAGED),
        ("DELETE", f"/resources/{e1}/bookings/{w['booking']}", {}, None, MANAGED),
        ("POST", f"/resources/{e1}/absences", {}, {"starts_on": w["away"], "ends_on": w["away"]},
         creating(OWN_HOURS)),  # the person themself, or an admin
        ("DELETE", f"/resources/{e1}/absences/{w['absence']}", {}, None, OWN_HOURS),
        ("GET", f"/resources/{e1}/availability", {"from": "2030-03-04", "to": "2030-03-08"}, None, READ_PERSON),
        ("GET", "/availability/search", {"from": "2030-03-04", "to": "2030-03-08", "hours_per_day": "1"}, None,
         QUEUES),  # admins and managers
        ("GET", "/utilisation", {"from": "2030-03-04", "to": "2030-03-08"}, None, QUEUES),
        ("GET", f"/projects/{p}/staffing", {"from": "2030-03-04", "to": "2030-03-08"}, None, QUEUES),
        ("GET", "/team-overview", {"from": "2030-03-04", "to": "2030-03-08"}, None, QUEUES),
        # -- notifications: /me is the caller's own; the notification is the employee's
        ("GET", "/me/notifications", {}, None, EVERYONE),
        ("POST", f"/me/notifications/{w['notification']}/read", {}, None,
         row("notification.not_recipient", NO, NO, OK, NO)),
        ("GET", "/me/preferences", {}, None, EVERYONE),
        ("PUT", "/me/preferences", {}, {"email": False}, EVERYONE),
        ("GET", "/webhooks", {}, None, ADMINS),
        ("POST", "/webhooks", {}, {"url": "http://127.0.0.1:9/x", "event_types": ["*"]}, creating(ADMINS)),
        ("GET", f"/webhooks/{w['webhook']}/deliveries", {}, None, ADMINS),
        ("DELETE", f"/webhooks/{w['webhook']}", {}, None, ADMINS),
        ("POST", f"/webhook-deliveries/{uuid.uuid4()}/redeliver", {}, None, row(404, R, R, R, R)),
        # -- money (issue 16): clients and cost rates for admins, read by managers; rates on managed projects
        ("GET", "/clients", {}, None, QUEUES),
        ("POST", "/clients", {}, {"name": f"Client {unique}"}, creating(ADMINS)),
        ("GET", f"/clients/{w['client']}", {}, None, QUEUES),
        ("PATCH", f"/clients/{w['client']}", {}, {"contact_email": f"ap-{unique}@roles.example"}, ADMINS),
        ("POST", f"/clients/{w['client']}/rates", {}, {"rate": "100.00", "effective_from": "2030-01-01"},
         creating(ADMINS)),
        ("POST", f"/projects/{p}/rates", {}, {"scope": "project", "rate": "100.00", "effective_from": "2030-01-01"},
         creating(MANAGED)),
        ("GET", "/profitability", {"from": "2030-01-01", "to": "2030-12-31", "group_by": "client"}, None, QUEUES),
        ("POST", f"/resources/{e1}/cost-rates", {}, {"rate": "50.00", "effective_from": "2030-01-01"},
         creating(ADMINS)),
        ("GET", f"/resources/{e1}/cost-rates", {}, None, ADMINS),
        # -- forecast and health: as progress, for admins and the project's manager
        ("GET", f"/projects/{p}/forecast", {}, None, MANAGED),
        ("GET", f"/projects/{p}/burn", {"interval": "month"}, None, MANAGED),
        ("GET", f"/projects/{p}/health", {"waiting_days": "5"}, None, MANAGED),
        # -- integrations
        ("GET", "/events", {}, None, ADMINS),
        # last: the project put on hold refuses hours after it
        ("POST", f"/projects/{p}/status", {}, {"status": "on_hold"}, MANAGED),
    ]


def world(rpc, people, n):
    """A project of ``people['manager']`` with the employee a member, and the employee's weeks: the first open
    with an entry, the second and third submitted, the fourth approved; a booking, an absence, a spare person
    and a webhook. ``n`` keeps every world's dates apart."""
    w = dict(people)
    w["client"] = rpc.project.create_client(name=f"Client of world {n} {uuid.uuid4().hex[:6]}")["id"]
    w["project"] = rpc.project.create_project(name=f"World {n}", code=f"W{n}-{uuid.uuid4().hex[:6]}",
                                              manager_id=w["manager"], client_id=w["client"])["id"]
    w["task"] = rpc.project.add_task(project_id=w["project"], name="T")["id"]
    w["open_task"] = rpc.project.add_task(project_id=w["project"], name="Open")["id"]
    rpc.project.assign_member(project_id=w["project"], employee_id=w["e1"])
    w["phase"] = rpc.project.add_phase(project_id=w["project"], name="Design")["phase"]["id"]
    w["milestone"] = rpc.project.add_milestone(project_id=w["project"], name="Walls", due_on="2031-08-15",
                                               owner_id=w["e1"])["id"]
    w["weeks"] = [week(4 * n + k) for k in range(4)]
    entries = [wait_until(lambda day=day: rpc.timesheet.log_time(  # the project's facts may not be there yet
        employee_id=w["e1"], project_id=w["project"], date=day, hours=3)["id"], timeout=20, ignore=(ChronicleError,))
        for _, day, _ in w["weeks"]]
    w["entry"] = entries[0]
    for name, _, _ in w["weeks"][1:]:
        rpc.timesheet.submit_timesheet(employee_id=w["e1"], week=name)
    rpc.timesheet.approve_timesheet(employee_id=w["e1"], week=w["weeks"][3][0])
    monday = w["weeks"][0][2]
    w["free"] = monday.replace(year=2031).isoformat()
    w["booking"] = rpc.resource.book_resource(resource_id=w["e1"], project_id=w["project"], starts_on=w["free"],
                                              ends_on=w["free"], hours_per_day=1)["id"]
    w["tentative"] = rpc.resource.book_resource(resource_id=w["e1"], project_id=w["project"], starts_on=w["free"],
                                                ends_on=w["free"], hours_per_day=1, tentative=True)["id"]
    w["absence"] = rpc.resource.register_absence(resource_id=w["e1"], starts_on=monday.replace(year=2032).isoformat(),
                                                 ends_on=monday.replace(year=2032).isoformat())["id"]
    w["away"] = monday.replace(year=2033).isoformat()
    w["spare"] = rpc.resource.register_resource(name=f"spare {n}", email=f"spare{n}@roles.example")["id"]
    w["webhook"] = rpc.notification.register_webhook(url="http://127.0.0.1:9/y", event_types=["*"])["id"]
    return w


def success_schema(method, path, status):
    """The route's success body schema in /openapi.json."""
    if path in ("/events", "/exports/hours"):
        template = API + path
    else:
        index, _ = ROUTING.bind("").match(path, method=method)
        template = openapi._openapi_path(ROUTES[index].path)
    return openapi.document()["paths"][template][method.lower()]["responses"][str(status)]["content"][
        "application/json"]["schema"]


def test_every_route_for_every_role_gets_the_status_of_the_service_rules(isolated_amqp_uri, tmp_path):
    config = gateway_config(service_config(isolated_amqp_uri, tmp_path, WEBHOOK_ALLOW_PRIVATE="true"),
                            GATEWAY_RATE_LIMIT=100_000)
    with running(config, GatewayService, ProjectService, TimesheetService, ResourceService, NotificationService), \
            rpc_proxy(config) as admin_rpc:
        people = {key: admin_rpc.resource.register_resource(name=key, email=f"{key}@roles.example")["id"]
                  for key in ("manager", "other_manager", "e1", "e2")}
        worlds = {role: world(admin_rpc, people, n) for n, role in enumerate(ROLES)}
        # the employee's notification (being made a member): marked read by its recipient only
        notification = wait_until(lambda: admin_rpc.notification.inbox(user_id=people["e1"]), timeout=20)[0]["id"]
        subjects = {"admin": str(uuid.uuid4()), "manager": people["manager"],
                    "other_manager": people["other_manager"], "employee": people["e1"],
                    "other_employee": people["e2"]}
        tokens = {role: issue_token(config, subject, role.removeprefix("other_"))
                  for role, subject in subjects.items()}

        routes_run, mismatches = set(), []
        for role in ROLES:
            for method, path, query, body, expected in cases(dict(worlds[role], notification=notification)):
                response = requests.request(method, base_url(config) + API + path, params=query, json=body,
                                            headers={**bearer(tokens[role]), "Idempotency-Key": str(uuid.uuid4())},
                                            timeout=30)
                want = expected[role]
                answer = response.json()
                if isinstance(want, str):
                    got = (response.status_code, answer.get("code"))
                    ok = got == (403, want)
                else:
                    got = (response.status_code, answer.get("code") if response.status_code >= 400 else None)
                    ok = response.status_code == want
                if not ok:
                    mismatches.append(f"{role} {method} {path}: want {want}, got {got}")
                elif response.status_code < 300:
                    jsonschema.validate(answer, success_schema(method, path, response.status_code))
                if path not in ("/events", "/exports/hours"):
                    routes_run.add(ROUTING.bind("").match(path, method=method)[0])
        assert not mismatches, "\n".join(mismatches)
        assert routes_run == set(range(len(ROUTES)))  # every route, for every role

        # no token: 401 on every route, with the challenge
        for method, path, query, body, _ in cases(dict(worlds["admin"], notification=notification)):
            response = requests.request(method, base_url(config) + API + path, params=query, json=body, timeout=30)
            assert (response.status_code, response.json()["code"]) == (401, "auth.missing"), (method, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_member_reads_the_project_without_its_money_or_the_others_rates(isolated_amqp_uri, tmp_path):
    config = gateway_config(service_config(isolated_amqp_uri, tmp_path))
    with running(config, GatewayService, ProjectService, ResourceService), rpc_proxy(config) as admin_rpc:
        people = {key: admin_rpc.resource.register_resource(name=key, email=f"{key}@rates.example")["id"]
                  for key in ("manager", "e1", "e2")}
        project = admin_rpc.project.create_project(name="Rates", code=f"R-{uuid.uuid4().hex[:6]}",
                                                   manager_id=people["manager"], budget_amount="50000.00",
                                                   hourly_rate="1000.00")["id"]
        for key, rate in (("e1", "800.00"), ("e2", "1200.00")):
            admin_rpc.project.assign_member(project_id=project, employee_id=people[key], hourly_rate=rate)
        member = bearer(issue_token(config, people["e1"], "employee"))
        manager = bearer(issue_token(config, people["manager"], "manager"))

        def get(path, headers, **query):
            response = requests.get(base_url(config) + API + path, params=query, headers=headers, timeout=30)
            assert response.status_code == 200, response.text
            jsonschema.validate(response.json(), success_schema("GET", path, 200))  # /openapi.json tells the truth
            return response.json()

        for query in ({}, {"as_of": "2999-01-01T00:00:00"}):
            seen = get(f"/projects/{project}", member, **query)
            assert "budget_amount" not in seen and "hourly_rate" not in seen and "amount" not in seen["budget"]
            assert {m["employee_id"]: m.get("hourly_rate") for m in seen["members"]} == {
                people["e1"]: "800.00", people["e2"]: None}
            whole = get(f"/projects/{project}", manager, **query)
            assert (whole["budget_amount"], whole["hourly_rate"], whole["budget"]["amount"]) == (
                "50000.00", "1000.00", "50000.00")
            assert {m["employee_id"]: m["hourly_rate"] for m in whole["members"]} == {
                people["e1"]: "800.00", people["e2"]: "1200.00"}
        [summary] = get("/projects", member)
        assert "budget_amount" not in summary and "hourly_rate" not in summary
        [summary] = get("/projects", manager)
        assert (summary["budget_amount"], summary["hourly_rate"]) == ("50000.00", "1000.00")
