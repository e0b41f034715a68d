"""The money side of the project service (issue 16) over a real container and RabbitMQ: clients, billing rates
from a date, cost rates from the resource feed, priced entries, both budgets and profitability. Hours come from a
fake timesheet service and cost rates from a fake resource service, each built through the owner's registry."""
import uuid

import pytest

from shared.errors import Forbidden, NotFound, RuleViolation, ValidationError
from shared.money import legacy_client_id
from shared.testing import wait_until

from .test_progress import Timesheet, progress_is

DAY = "2026-11-24"  # in WEEK of test_progress


def cost_rate(env, resource_id, rate, effective_from="2026-01-01", currency="NOK"):
    env.rpc.resource.emit(stream=f"resource-{resource_id}", type="CostRateSet", data={
        "resource_id": resource_id, "rate": rate, "currency": currency, "effective_from": effective_from})


def client(env, **overrides):
    args = {"name": f"Client {uuid.uuid4().hex[:6]}", "currency": "NOK", "default_rate": "900.00"}
    args.update(overrides)
    return env.rpc.project.create_client(**args)


def log_on(sheet, employee, hours, day, billable=True, week=None):
    from datetime import date

    week = week or "{}-W{:02d}".format(*date.fromisoformat(day).isocalendar()[:2])
    data = {**sheet.entry(employee, hours, week=week, billable=billable), "date": day}
    sheet.emit(employee, week, "TimeLogged", data)
    return data


# -- clients --------------------------------------------------------------------------------------
def test_a_client_is_created_read_updated_and_listed(env):
    created = client(env, name="Port AS", org_number="999888777", contact_email="ap@port.example",
                     command_id="client-1")
    assert created == {**created, "name": "Port AS", "org_number": "999888777", "currency": "NOK",
                       "default_rate": "900.00", "contact_email": "ap@port.example",
                       "rates": [{"effective_from": None, "rate": "900.00"}], "version": 0}
    assert client(env, name="Port AS", org_number="999888777", contact_email="ap@port.example",
                  command_id="client-1") == created  # a retry: the first answer, nothing new

    updated = env.rpc.project.update_client(client_id=created["id"], contact_email="post@port.example",
                                            name="Port of Oslo AS")
    assert (updated["name"], updated["contact_email"], updated["version"]) == ("Port of Oslo AS",
                                                                               "post@port.example", 1)
    got = env.rpc.project.get_client(client_id=created["id"], min_position=updated["position"])
    assert got["name"] == "Port of Oslo AS" and got["projects"] == [] and got["figures"] == []
    listed = {c["client_id"]: c for c in env.rpc.project.list_clients(min_position=updated["position"])}
    assert listed[created["id"]]["name"] == "Port of Oslo AS" and not listed[created["id"]]["legacy"]
    history = env.rpc.project.set_client_rate(client_id=created["id"], rate="950.00", effective_from="2026-06-01")
    assert history["rates"] == [{"effective_from": None, "rate": "900.00"},
                                {"effective_from": "2026-06-01", "rate": "950.00"}]


def test_client_arguments_are_validated_and_unknown_clients_are_not_found(env):
    for bad in ({"name": ""}, {"name": "X", "currency": "nok"}, {"name": "X", "default_rate": "-1"},
                {"name": "X", "contact_email": "not-an-address"}):
        with pytest.raises(ValidationError):
            env.rpc.project.create_client(**bad)
    with pytest.raises(NotFound) as missing:
        env.rpc.project.get_client(client_id=str(uuid.uuid4()))
    assert missing.value.code == "client.not_found"
    with pytest.raises(NotFound):
        env.rpc.project.update_client(client_id=str(uuid.uuid4()), name="Nobody")


def test_projects_belong_to_an_existing_client_and_take_its_currency(env):
    theirs = client(env, currency="SEK")
    project = env.project(client_id=theirs["id"])
    assert (project["client_id"], project["currency"]) == (theirs["id"], "SEK")
    with pytest.raises(RuleViolation) as unknown:
        env.project(client_id=str(uuid.uuid4()))
    assert unknown.value.code == "project.client_unknown"
    got = env.rpc.project.get_client(client_id=theirs["id"], min_position=project["position"])
    assert [p["id"] for p in got["projects"]] == [project["id"]]
    assert [p["id"] for p in env.rpc.project.list_projects(client_id=theirs["id"])] == [project["id"]]


def test_a_free_text_customer_is_a_legacy_client_until_a_client_of_that_name_takes_its_projects(env):
    name = f"Legacy {uuid.uuid4().hex[:6]}"
    old = env.project(customer=name)
    assert old["client_id"] == legacy_client_id(name) and old["customer"] == name
    listed = {c["client_id"]: c for c in env.rpc.project.list_clients(min_position=old["position"])}
    assert listed[old["client_id"]]["legacy"] and listed[old["client_id"]]["name"] == name
    assert env.rpc.project.get_client(client_id=old["client_id"])["legacy"] is True

    adopted = client(env, name=name.upper(), currency="NOK")
    assert adopted["id"] == old["client_id"]
    got = env.rpc.project.get_client(client_id=adopted["id"], min_position=adopted["position"])
    assert got["legacy"] is False and [p["id"] for p in got["projects"]] == [old["id"]]


# -- rates and amounts -----------------------------------------------------------------------------
def test_an_hour_is_priced_at_the_rates_in_force_on_its_date_and_a_change_reprices_only_from_its_date(env):
    payer = client(env, default_rate="800.00")
    project = env.project(client_id=payer["id"])
    pid, employee = project["id"], env.resource()
    cost_rate(env, employee, "500.00")
    sheet = Timesheet(env, pid)
    log_on(sheet, employee, 2, "2026-03-02")
    log_on(sheet, employee, 1, "2026-04-06")
    log_on(sheet, employee, 1, "2026-04-07", billable=False)
    got = progress_is(env, pid, logged_hours=4, logged_amount="2400.00")  # the client's default, 3 billable h
    assert got["logged"] == {"hours": 4, "billable_hours": 3, "revenue": "2400.00", "cost": "2000.00",
                             "margin": "400.00", "margin_percent": 16.7}

    changed = env.rpc.project.set_rate(project_id=pid, scope="project", rate="1000.00", effective_from="2026-04-01")
    assert changed["rates"] == [{"effective_from": "2026-04-01", "rate": "1000.00"}]
    progress_is(env, pid, logged_amount="2600.00")  # 2 h x 800 before the date, 1 h x 1000 after
    cost_rate(env, employee, "600.00", effective_from="2026-04-07")
    got = progress_is(env, pid, logged_amount="2600.00", logged={
        "hours": 4, "billable_hours": 3, "revenue": "2600.00", "cost": "2100.00", "margin": "500.00",
        "margin_percent": 19.2})
    assert got["missing_rates"] == {"billing_hours": 0, "cost_hours": 0}

    env.rpc.project.assign_member(project_id=pid, employee_id=employee)
    env.rpc.project.set_rate(project_id=pid, scope="member", subject_id=employee, rate="1500.00",
                             effective_from="2026-03-01")
    progress_is(env, pid, logged_amount="4500.00")  # the member's rate wins on every date from March
    env.rpc.project.set_rate(project_id=pid, scope="member", subject_id=employee, rate=None,
                             effective_from="2026-04-01")
    progress_is(env, pid, logged_amount="4000.00")  # 2 h x 1500, then the project's 1000 again

    task = env.rpc.project.add_task(project_id=pid, name="Design")
    env.rpc.project.set_rate(project_id=pid, scope="task", subject_id=task["id"], rate="1.00",
                             effective_from="2026-01-01")  # no entry on that task: nothing moves
    progress_is(env, pid, logged_amount="4000.00")


def test_set_rate_is_validated_and_names_a_task_or_member_of_the_project(env):
    project = env.project()
    for bad in ({"scope": "project", "subject_id": str(uuid.uuid4())}, {"scope": "member"}, {"scope": "team"},
                {"scope": "project", "effective_from": "2026-02-30"}, {"scope": "project", "rate": "1.001"}):
        with pytest.raises(ValidationError):
            env.rpc.project.set_rate(**{"project_id": project["id"], "rate": "1.00", "effective_from": "2026-01-01",
                                        **bad})
    with pytest.raises(NotFound) as not_member:
        env.rpc.project.set_rate(project_id=project["id"], scope="member", subject_id=str(uuid.uuid4()),
                                 rate="1.00", effective_from="2026-01-01")
    assert not_member.value.code == "project.member_not_found"
    with pytest.raises(NotFound) as no_task:
        env.rpc.project.set_rate(project_id=project["id"], scope="task", subject_id=str(uuid.uuid4()),
                                 rate="1.00", effective_from="2026-01-01")
    assert no_task.value.code == "project.task_not_found"


def test_the_money_budget_has_its_thresholds(env):
    project = env.project(budget_hours=100, budget_amount="1000.00", hourly_rate="100.00")
    pid, employee = project["id"], env.resource()
    sheet = Timesheet(env, pid)
    sheet.log(employee, 5)  # 500.00 of 1000.00: 50 % of the money, 5 % of the hours

    def money_thresholds():
        return [(e["type"], e["data"]["threshold"], e["data"]["used_amount"])
                for e in env.rpc.project.history(project_id=pid)
                if e["type"].startswith("BudgetThreshold") and e["data"]["budget"] == "money"]

    wait_until(lambda: money_thresholds() == [("BudgetThresholdReached", 50, "500.00")], timeout=15)
    got = progress_is(env, pid, money_thresholds_reached=[50], thresholds_reached=[])
    assert got["budgets"]["money"] == {"budget": "1000.00", "used": "500.00", "remaining": "500.00", "percent": 50.0}
    # a rate change from a date reprices the entries after it, and the money used with them
    env.rpc.project.set_rate(project_id=pid, scope="project", rate="200.00", effective_from="2026-01-01")
    wait_until(lambda: money_thresholds()[1:] == [("BudgetThresholdReached", 80, "1000.00"),
                                                  ("BudgetThresholdReached", 100, "1000.00")], timeout=15)


# -- profitability ---------------------------------------------------------------------------------
def test_profitability_groups_by_project_client_employee_and_month_and_by_currency(env):
    nok, sek = client(env, default_rate="1000.00"), client(env, currency="SEK", default_rate="100.00")
    p1, p2 = env.project(client_id=nok["id"]), env.project(client_id=sek["id"])
    alice, bob = env.resource(), env.resource()
    cost_rate(env, alice, "400.00")
    log_on(Timesheet(env, p1["id"]), alice, 2, "2027-01-29")
    log_on(Timesheet(env, p1["id"]), bob, 1, "2027-02-01", billable=False)
    log_on(Timesheet(env, p2["id"]), alice, 3, "2027-02-02")
    log_on(Timesheet(env, p2["id"]), alice, 8, "2027-03-01")  # outside the range

    def by(group_by):
        return env.rpc.project.profitability(from_date="2027-01-01", to_date="2027-02-28", group_by=group_by)

    wait_until(lambda: len(by("project")["rows"]) == 2, timeout=15)
    got = by("project")
    rows = {r["key"]: r for r in got["rows"]}
    assert rows[p1["id"]] == {"key": p1["id"], "label": p1["code"], "currency": "NOK", "hours": 3,
                              "billable_hours": 2, "revenue": "2000.00", "cost": "800.00", "margin": "1200.00",
                              "margin_percent": 60.0, "missing_rates": {"billing_hours": 0, "cost_hours": 1}}
    assert rows[p2["id"]]["currency"] == "SEK" and rows[p2["id"]]["revenue"] == "300.00"
    assert [(t["currency"], t["revenue"]) for t in got["totals"]] == [("NOK", "2000.00"), ("SEK", "300.00")]
    months = {(r["key"], r["currency"]): r["hours"] for r in by("month")["rows"]}
    assert months == {("2027-01", "NOK"): 2, ("2027-02", "NOK"): 1, ("2027-02", "SEK"): 3}
    people = {(r["key"], r["currency"]): r["revenue"] for r in by("employee")["rows"]}
    assert people == {(alice, "NOK"): "2000.00", (bob, "NOK"): "0.00", (alice, "SEK"): "300.00"}
    clients = {r["key"]: r["label"] for r in by("client")["rows"]}
    assert clients == {nok["id"]: nok["name"], sek["id"]: sek["name"]}
    with pytest.raises(ValidationError):
        env.rpc.project.profitability(from_date="2027-02-01", to_date="2027-01-01")
    with pytest.raises(ValidationError):
        env.rpc.project.profitability(from_date="2027-01-01", to_date="2027-02-01", group_by="team")


def test_a_manager_reads_the_profitability_and_clients_of_their_own_projects_only(env, proxies_of):
    payer = client(env, default_rate="100.00")
    mine_manager, other_manager = env.resource(), env.resource()
    mine = env.project(client_id=payer["id"], manager_id=mine_manager)
    theirs = env.project(client_id=payer["id"], manager_id=other_manager)
    employee = env.resource()
    log_on(Timesheet(env, mine["id"]), employee, 1, "2028-05-02")
    log_on(Timesheet(env, theirs["id"]), employee, 2, "2028-05-02")
    wait_until(lambda: env.rpc.project.profitability(from_date="2028-05-01", to_date="2028-05-31")["totals"]
               and env.rpc.project.profitability(from_date="2028-05-01", to_date="2028-05-31")["totals"][0]["hours"]
               == 3, timeout=15)
    as_manager = proxies_of(mine_manager, "manager").project
    got = as_manager.profitability(from_date="2028-05-01", to_date="2028-05-31")
    assert [r["key"] for r in got["rows"]] == [mine["id"]] and got["totals"][0]["revenue"] == "100.00"
    seen = as_manager.get_client(client_id=payer["id"])
    assert [p["id"] for p in seen["projects"]] == [mine["id"]] and seen["figures"][0]["hours"] == 1
    as_employee = proxies_of(employee, "employee").project
    for call in (lambda: as_employee.profitability(from_date="2028-05-01", to_date="2028-05-31"),
                 lambda: as_employee.list_clients(), lambda: as_employee.get_client(client_id=payer["id"]),
                 lambda: as_manager.create_client(name="Mine"),
                 lambda: as_manager.set_client_rate(client_id=payer["id"], rate="1.00", effective_from="2028-01-01"),
                 lambda: as_manager.set_rate(project_id=theirs["id"], scope="project", rate="1.00",
                                             effective_from="2028-01-01")):
        with pytest.raises(Forbidden):
            call()
    assert as_manager.set_rate(project_id=mine["id"], scope="project", rate="1.00",
                               effective_from="2028-01-01")["rate"] == "1.00"


@pytest.fixture
def proxies_of(env):
    import contextlib

    from nameko.standalone.rpc import ClusterRpcProxy

    from shared.testing import as_caller

    with contextlib.ExitStack() as stack:
        def proxy(subject, role):
            return stack.enter_context(ClusterRpcProxy(env.config, timeout=30,
                                                       context_data=as_caller(env.config, subject, role)))
        yield proxy


def test_moving_a_project_to_another_client_prices_its_hours_at_that_clients_rates(env):
    first, second = client(env, default_rate="100.00"), client(env, default_rate="200.00")
    project = env.project(client_id=first["id"])
    log_on(Timesheet(env, project["id"]), env.resource(), 2, "2026-05-04")
    progress_is(env, project["id"], logged_amount="200.00")
    with pytest.raises(RuleViolation) as unknown:
        env.rpc.project.update_project(project_id=project["id"], client_id=str(uuid.uuid4()))
    assert unknown.value.code == "project.client_unknown"
    moved = env.rpc.project.update_project(project_id=project["id"], client_id=second["id"])
    assert moved["client_id"] == second["id"]
    progress_is(env, project["id"], logged_amount="400.00")
    got = env.rpc.project.get_client(client_id=second["id"], min_position=moved["position"])
    assert [p["id"] for p in got["projects"]] == [project["id"]]
    wait_until(lambda: env.rpc.project.get_client(client_id=second["id"])["figures"] == [{
        "currency": "NOK", "hours": 2, "billable_hours": 2, "revenue": "400.00", "cost": "0.00", "margin": "400.00",
        "margin_percent": 100.0, "missing_rates": {"billing_hours": 0, "cost_hours": 2}}], timeout=15)
    assert env.rpc.project.get_client(client_id=first["id"])["projects"] == []
