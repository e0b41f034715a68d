"""The issue's end-to-end flow with the real project and timesheet services: a project is created,
two people are booked and one is overbooked, ResourceOverbooked is published on resource.events,
hours are logged through the timesheet service and utilisation shows them."""
import pytest

from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.resource.conftest import OverbookedListener

pytestmark = pytest.mark.e2e


def test_book_overbook_log_and_utilisation(amqp_uri, tmp_path):
    config = service_config(amqp_uri, tmp_path)
    with running(config, ResourceService, ProjectService, TimesheetService, OverbookedListener), \
            rpc_proxy(config) as rpc:
        ada = rpc.resource.register_resource(name="Ada", email="ada@e2e.example", skills=["python"])
        bob = rpc.resource.register_resource(name="Bob", email="bob@e2e.example", weekly_capacity_hours=20,
                                             working_days=[1, 2, 3, 4])
        # 1. a project is created (its manager is a resource the project service learns of from our feed)
        project = rpc.project.create_project(name="Bridge", code="BRIDGE", manager_id=ada["id"],
                                             starts_on="2030-01-01", ends_on="2030-12-31")
        for person in (ada, bob):
            rpc.project.assign_member(project_id=project["id"], employee_id=person["id"])
        # 2. two people are booked; Bob (5 h days) is booked for 6 h and so overbooked
        rpc.resource.book_resource(resource_id=ada["id"], project_id=project["id"], starts_on="2030-01-07",
                                   ends_on="2030-01-11", hours_per_day=6)
        over = rpc.resource.book_resource(resource_id=bob["id"], project_id=project["id"], starts_on="2030-01-07",
                                          ends_on="2030-01-08", hours_per_day=6)
        assert over["overbooked"]["excess_hours"] == 2
        # 3. ResourceOverbooked is published on resource.events
        envelope = wait_until(lambda: next((e for e in rpc.overbooked_listener.received()
                                            if e["data"]["resource_id"] == bob["id"]), None),
                              timeout=15, message="ResourceOverbooked not published")
        assert [d["date"] for d in envelope["data"]["days"]] == ["2030-01-07", "2030-01-08"]
        # 4. hours are logged through the timesheet service
        for day, h in (("2030-01-07", 7), ("2030-01-08", 5)):
            rpc.timesheet.log_time(employee_id=ada["id"], project_id=project["id"], date=day, hours=h)
        rpc.timesheet.log_time(employee_id=bob["id"], project_id=project["id"], date="2030-01-07", hours=6,
                               billable=False)

        # 5. utilisation shows them
        def report():
            rows = rpc.resource.utilisation(from_date="2030-01-07", to_date="2030-01-11")["resources"]
            rows = {r["resource_id"]: r for r in rows}
            if rows[ada["id"]]["logged_hours"] == 12 and rows[bob["id"]]["logged_hours"] == 6:
                return rows
            return None

        rows = wait_until(report, timeout=20, message="logged hours not in utilisation")
        assert rows[ada["id"]]["booked_hours"] == 30 and rows[ada["id"]]["billable_hours"] == 12
        assert rows[ada["id"]]["utilisation"] == round(12 / 37.5, 4)
        assert rows[ada["id"]]["booking_accuracy"] == round(12 / 30, 4)
        assert rows[bob["id"]]["capacity_hours"] == 20 and rows[bob["id"]]["booked_hours"] == 12
        assert rows[bob["id"]]["billable_hours"] == 0 and rows[bob["id"]]["utilisation"] == 0.3
