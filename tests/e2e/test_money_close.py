"""Issue 16: profitability (project service) is consistent with the sum of the hours export (timesheet service) for the
same range. Both price every hour by the shared pricing code (shared/money.py) at the rates in force on its date,
the project service from its own events and the timesheet service from the same events recorded from the project
and resource feeds. Over the real services: clients in two currencies, a member's rate from a date, a cost rate, a
non-billable hour, an amendment, an approval, and a client rate changed afterwards from a date."""
from collections import defaultdict
from decimal import Decimal

import pytest

from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.errors import ChronicleError
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until

pytestmark = pytest.mark.e2e

SERVICES = (ProjectService, TimesheetService, ResourceService)
RANGE = {"from_date": "2031-01-01", "to_date": "2031-01-31"}


def export_sums(rows, key=lambda row: ()):
    """The export's rows summed by currency (and ``key``): hours, billable hours, revenue and cost."""
    sums = defaultdict(lambda: [Decimal(0)] * 4)
    for row in rows:
        s = sums[(*key(row), row["currency"])]
        hours = Decimal(str(row["hours"]))
        s[0] += hours
        s[1] += hours if row["billable"] else 0
        s[2] += Decimal(row["billable_amount"])
        s[3] += Decimal(row["cost_amount"])
    return {k: tuple(v) for k, v in sums.items()}


def profitability_sums(lines, key=lambda line: ()):
    return {(*key(line), line["currency"]): (Decimal(str(line["hours"])), Decimal(str(line["billable_hours"])),
                                             Decimal(line["revenue"]), Decimal(line["cost"])) for line in lines}


def test_profitability_equals_the_sum_of_the_export_for_the_same_range(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path)
    with running(config, *SERVICES), rpc_proxy(config) as rpc:
        manager = rpc.resource.register_resource(name="Mona Manager", email="mona@money.example")["id"]
        ada = rpc.resource.register_resource(name="Ada Lovelace", email="ada@money.example")["id"]
        bob = rpc.resource.register_resource(name="Bob Builder", email="bob@money.example")["id"]
        rpc.resource.set_cost_rate(resource_id=ada, rate="600.00", effective_from="2031-01-01")
        nok = rpc.project.create_client(name="Fjord AS", currency="NOK", default_rate="1000.00")
        sek = rpc.project.create_client(name="Skär AB", currency="SEK", default_rate="100.00")
        a = rpc.project.create_project(name="Quay", code="QUAY", manager_id=manager, client_id=nok["id"])
        b = rpc.project.create_project(name="Bro", code="BRO", manager_id=manager, client_id=sek["id"])
        assert (a["currency"], b["currency"]) == ("NOK", "SEK")
        for project in (a, b):
            for person in (ada, bob):
                rpc.project.assign_member(project_id=project["id"], employee_id=person)
        rpc.project.set_rate(project_id=a["id"], scope="member", subject_id=ada, rate="1500.00",
                             effective_from="2031-01-08")

        def log(employee, project, day, hours, billable=True):
            return wait_until(lambda: rpc.timesheet.log_time(employee_id=employee, project_id=project["id"],
                                                             date=day, hours=hours, billable=billable),
                              timeout=20, ignore=(ChronicleError,))

        log(ada, a, "2031-01-06", 2)  # 1000.00 (the member's rate starts on the 8th); cost 600.00
        log(ada, a, "2031-01-13", 3)  # 1500.00 a hour
        log(bob, a, "2031-01-07", 1.5, billable=False)  # no revenue; bob has no cost rate
        late = log(bob, a, "2031-01-13", 2.25)
        rpc.timesheet.amend_entry(entry_id=late["id"], hours=2.5)
        log(ada, b, "2031-01-07", 4)  # SEK
        log(ada, a, "2031-02-03", 8)  # outside the range
        rpc.timesheet.submit_timesheet(employee_id=ada, week="2031-W02")
        with rpc_proxy(config, token=issue_token(config, manager, "manager")) as as_manager:
            as_manager.timesheet.approve_timesheet(employee_id=ada, week="2031-W02")
        changed = rpc.project.set_client_rate(client_id=sek["id"], rate="120.00", effective_from="2031-01-07")

        expected_all = {("NOK",): (Decimal("9"), Decimal("7.5"), Decimal("9000.00"), Decimal("3000.00")),
                        ("SEK",): (Decimal("4"), Decimal("4"), Decimal("480.00"), Decimal("2400.00"))}
        expected_approved = {("NOK",): (Decimal("2"), Decimal("2"), Decimal("2000.00"), Decimal("1200.00")),
                             ("SEK",): (Decimal("4"), Decimal("4"), Decimal("480.00"), Decimal("2400.00"))}

        def both(status, approved_only):
            export = rpc.timesheet.export_hours(**RANGE, status=status)["rows"]
            profit = rpc.project.profitability(**RANGE, approved_only=approved_only,
                                               min_position=changed["position"])
            return export, profit

        def settled(status, approved_only, expected):
            export, profit = both(status, approved_only)
            return (export_sums(export) == expected and profitability_sums(profit["totals"]) == expected
                    and (export, profit))

        export, profit = wait_until(lambda: settled("all", False, expected_all), timeout=45,
                                    message="the export and profitability do not agree with the hours")
        # the same by project and by employee: every group's figures are the sum of its export lines
        assert profitability_sums(profit["rows"], lambda line: (line["key"],)) == \
            export_sums(export, lambda row: (row["project_id"],))
        by_employee = rpc.project.profitability(**RANGE, group_by="employee")
        assert profitability_sums(by_employee["rows"], lambda line: (line["key"],)) == \
            export_sums(export, lambda row: (row["employee_id"],))
        by_client = rpc.project.profitability(**RANGE, group_by="client")
        assert {line["label"] for line in by_client["rows"]} == {row["client"] for row in export}
        assert {row["entry_id"]: (row["billing_rate"], row["billable_amount"]) for row in export
                if row["employee_id"] == ada and row["date"] == "2031-01-13"} == {
            next(r["entry_id"] for r in export if r["employee_id"] == ada and r["date"] == "2031-01-13"):
                ("1500.00", "4500.00")}

        wait_until(lambda: settled("approved", True, expected_approved), timeout=30,
                   message="the approved export and profitability do not agree")
