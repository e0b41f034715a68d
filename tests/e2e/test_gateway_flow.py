"""The REST API end to end: the four services and the gateway on the real broker, driven by a real HTTP client.
An admin staffs a project, its manager adds a member, the member logs a week and submits it, the manager approves,
the admin exports the hours as CSV, a webhook receiver got the events, and the events feed serves them all."""
import csv
import io
import uuid

import pytest
import requests

from services.gateway.service import GatewayService
from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until
from tests.gateway.helpers import base_url, bearer, gateway_config
from tests.notification.helpers import Receiver

pytestmark = pytest.mark.e2e

SERVICES = (GatewayService, ProjectService, TimesheetService, ResourceService, NotificationService)
WEEK, DAYS = "2030-W10", ("2030-03-04", "2030-03-05", "2030-03-06", "2030-03-07", "2030-03-08")


class Client:
    """requests against the running gateway, as one caller."""

    def __init__(self, config, token):
        self.url, self.headers = base_url(config) + "/api/v1", bearer(token)

    def __call__(self, method, path, expect=200, **kwargs):
        response = requests.request(method, self.url + path, headers=self.headers, timeout=30, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response


def test_a_week_of_work_over_http(isolated_amqp_uri, tmp_path):
    receiver = Receiver().start()
    config = gateway_config(service_config(isolated_amqp_uri, tmp_path, WEBHOOK_ALLOW_PRIVATE="true",
                                           DELIVERY_POLL_INTERVAL=0.1), GATEWAY_EXPORT_PAGE=2)
    try:
        with running(config, *SERVICES):
            admin = Client(config, issue_token(config, str(uuid.uuid4()), "admin"))
            hook_path = receiver.endpoint(secret="s" * 32)
            admin("POST", "/webhooks", 201, json={"url": receiver.url(hook_path), "secret": "s" * 32,
                                                  "event_types": ["TimesheetSubmitted", "TimesheetApproved"]})
            # 1. the admin registers the people and creates the project
            manager = admin("POST", "/resources", 201, json={"name": "Mona Manager", "email": "mona@e2e.example"}).json()
            member = admin("POST", "/resources", 201, json={"name": "Dev Eloper", "email": "dev@e2e.example"}).json()
            project = admin("POST", "/projects", 201, json={"name": "Quay", "code": "QUAY", "manager_id": manager["id"],
                                                            "budget_hours": 100}).json()
            # 2. the manager adds the member
            boss = Client(config, issue_token(config, manager["id"], "manager"))
            boss("PUT", f"/projects/{project['id']}/members/{member['id']}", json={"role": "member"})
            # 3. the member logs a week and submits it
            dev = Client(config, issue_token(config, member["id"], "employee"))
            for day in DAYS:
                dev("POST", "/time-entries", 201, json={"employee_id": member["id"], "project_id": project["id"],
                                                        "date": day, "hours": 7.5})
            dev("POST", f"/timesheets/{member['id']}/{WEEK}/submit")
            # 4. the manager approves: the approver is the caller, not an argument
            wait_until(lambda: boss("GET", "/approvals/pending").json(), timeout=20, message="nothing pending")
            boss("POST", f"/timesheets/{member['id']}/{WEEK}/approve", json={})
            week = dev("GET", f"/timesheets/{member['id']}/{WEEK}")
            assert week.json()["status"] == "approved" and week.headers["ETag"] == f'"{week.json()["version"]}"'
            # 5. the admin exports the hours as CSV: streamed, read from the service 2 rows a page (GATEWAY_EXPORT_PAGE)
            export = admin("GET", "/exports/hours", params={"from": DAYS[0], "to": DAYS[-1], "format": "csv"})
            assert export.headers["Content-Type"].startswith("text/csv")
            assert export.headers["Transfer-Encoding"] == "chunked"
            with rpc_proxy(config) as rpc:  # the same file the service writes in one piece
                assert export.text == rpc.timesheet.export_hours(from_date=DAYS[0], to_date=DAYS[-1], format="csv")
                whole = rpc.timesheet.export_hours(from_date=DAYS[0], to_date=DAYS[-1])
            streamed = admin("GET", "/exports/hours", params={"from": DAYS[0], "to": DAYS[-1]}).json()
            assert streamed == {"columns": whole["columns"], "rows": whole["rows"], "count": 5}
            assert export.headers["Content-Disposition"] == \
                f'attachment; filename="hours-{DAYS[0]}-{DAYS[-1]}.csv"'
            rows = list(csv.DictReader(io.StringIO(export.text)))
            assert [(r["date"], r["hours"], r["status"]) for r in rows] == [(d, "7.5", "approved") for d in DAYS]
            assert {r["approved_by"] for r in rows} == {manager["id"]}
            # ... and then only what changed since, a page at a time (the month-end close, docs/close.md)
            first = admin("GET", "/exports/hours/changes", params={"since": "0", "limit": "3", "status": "all"}).json()
            assert [r["action"] for r in first["rows"]] == ["add"] * 3 and first["more"] is True
            rest = admin("GET", "/exports/hours/changes", params={"since": first["next"], "status": "all"}).json()
            assert {r["entry_id"] for r in first["rows"] + rest["rows"]} == {r["entry_id"] for r in whole["rows"]}
            assert rest["more"] is False and rest["since"] == first["next"]
            assert rest["rows"][-1]["action"] == "replace" and rest["rows"][-1]["status"] == "approved"
            assert admin("GET", "/exports/hours/changes", params={"since": rest["next"]}).json()["rows"] == []
            admin("GET", "/exports/hours/changes", 400, params={"since": "yesterday"})
            dev("GET", "/exports/hours/changes", 403, params={"since": "0"})
            # 6. the webhook receiver got the events, signed
            got = wait_until(lambda: {r["json"]["type"] for r in receiver.requests(hook_path)} >= {
                "TimesheetSubmitted", "TimesheetApproved"} and receiver.requests(hook_path), timeout=30,
                message="the webhook receiver did not get the events")
            assert all(r["signed"] for r in got)
            # and the feed over HTTP serves every service's events from a cursor, page by page
            seen, cursor = [], None
            while True:
                page = admin("GET", "/events", params={"limit": 7, **({"after": cursor} if cursor else {})}).json()
                seen += page["events"]
                cursor = page["next"]
                if not page["more"]:
                    break
            types = [e["type"] for e in seen]
            assert types.count("TimeLogged") == 5 and "ProjectCreated" in types and "ResourceRegistered" in types
            assert len({(e["service"], e["id"]) for e in seen}) == len(seen)  # nothing twice
            submitted = admin("GET", "/events", params={"types": "TimesheetSubmitted,TimesheetApproved"}).json()
            assert {e["type"] for e in submitted["events"]} <= {"TimesheetSubmitted", "TimesheetApproved"}
            assert admin("GET", "/events", params={"after": cursor}).json()["events"] == []  # caught up
    finally:
        receiver.stop()
