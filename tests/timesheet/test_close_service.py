"""The month-end close through a real nameko container on the real RabbitMQ (fake project and resource services):
a lock by date, corrections and late entries after it, invoicing marks, delta exports and the export's columns.
The period lock only moves forward, so the tests of this module lock ever later days of 2019."""
import csv
import io

import pytest

from shared.config import eventstore_uri
from shared.errors import Forbidden, NotFound, RuleViolation, ValidationError
from shared.eventstore import open_store
from shared.eventstore.base import NewEvent
from shared.testing import wait_until
from tests.timesheet.conftest import new_id


def staffed(env, customer="Acme", name="Ann Olsen"):
    employee, manager = env.person(name), new_id()
    project = env.project(members=[employee], manager_id=manager, customer=customer)
    return employee, manager, project


def delta_all(timesheet, since, **kw):
    """Every delta page from ``since``: the rows and the last cursor."""
    rows = []
    while True:
        page = timesheet.export_hours(since=since, **kw)
        rows += page["rows"]
        since = page["next"]
        if not page["more"]:
            return rows, since


def test_a_lock_by_date_then_a_correction_as_a_new_fact_seen_as_of_then_and_now(env):
    ts = env.rpc.timesheet
    employee, manager, project = staffed(env)
    feb = ts.log_time(employee_id=employee, project_id=project, date="2019-02-28", hours=8)  # W09: Mon 25 Feb
    mar = ts.log_time(employee_id=employee, project_id=project, date="2019-03-01", hours=4)
    start = ts.export_hours(since="0", status="all", limit=10_000)["next"]
    ts.lock_period(through_date="2019-02-28")
    assert ts.amend_entry(entry_id=mar["id"], hours=5)["hours"] == 5  # 1 March, same week: still editable
    before = env.head()
    for attempt, code in ((lambda: ts.amend_entry(entry_id=feb["id"], hours=7), "timesheet.period_locked"),
                          (lambda: ts.correct_entry(entry_id=mar["id"], hours=3, reason="x"), "timesheet.not_locked")):
        with pytest.raises(RuleViolation) as err:
            attempt()
        assert err.value.code == code
    with pytest.raises(Forbidden) as err:  # the employee does not correct their own locked hours
        env.as_(employee).correct_entry(entry_id=feb["id"], hours=7, reason="x")
    assert err.value.code == "auth.role" and env.head() == before
    with pytest.raises(ValidationError):  # a correction says why
        ts.correct_entry(entry_id=feb["id"], hours=7)

    corrected = env.as_(manager, "manager").correct_entry(entry_id=feb["id"], hours=6.5, reason="6.5 h at the client",
                                                          command_id="fix-feb")
    assert corrected["hours"] == 6.5 and corrected["date"] == "2019-02-28"
    again = env.as_(manager, "manager").correct_entry(entry_id=feb["id"], hours=6.5, reason="6.5 h at the client",
                                                      command_id="fix-feb")
    assert again["position"] == corrected["position"]  # a retry appends nothing

    [event] = ts.events_since(position=corrected["position"] - 1, limit=1)["events"]
    assert event["type"] == "TimeEntryCorrected" and event["data"]["before"]["hours"] == 8
    assert event["data"]["after"]["hours"] == 6.5 and event["data"]["booked_on"] > "2019-02-28"
    trail = [e for e in ts.history(employee_id=employee, week="2019-W09")["events"] if e.get("entry_id") == feb["id"]]
    assert [e["type"] for e in trail] == ["TimeLogged", "TimeEntryCorrected"]
    assert trail[1]["changes"]["hours"] == {"old": 8, "new": 6.5} and trail[1]["actor"] == manager
    assert trail[1]["reason"] == "6.5 h at the client" and trail[1]["booked_on"] == event["data"]["booked_on"]

    at = trail[0]["at"]
    assert ts.get_timesheet(employee_id=employee, week="2019-W09", as_of=at)["total_hours"] == 8  # known then
    assert ts.get_timesheet(employee_id=employee, week="2019-W09")["total_hours"] == 11.5  # known now

    rows, _ = delta_all(ts, start, status="all")
    mine = [(r["action"], r["entry_id"], r["hours"]) for r in rows if r["employee_id"] == employee]
    assert mine == [("reverse", mar["id"], 4), ("replace", mar["id"], 5),
                    ("reverse", feb["id"], 8), ("replace", feb["id"], 6.5)]
    assert delta_all(ts, start, status="all")[0] == rows  # the same cursor, the same rows


def test_a_late_entry_mark_invoiced_and_the_delta_payroll_and_invoicing_apply(env):
    ts = env.rpc.timesheet
    employee, manager, project = staffed(env)
    ts.lock_period(through_date="2019-03-10")
    cursor = ts.export_hours(since="0", limit=10_000, status="all")
    while cursor["more"]:
        cursor = ts.export_hours(since=cursor["next"], limit=10_000, status="all")
    with pytest.raises(RuleViolation) as err:
        ts.add_late_entry(employee_id=employee, project_id=project, date="2019-03-11", hours=2, reason="x")
    assert err.value.code == "timesheet.not_locked"
    with pytest.raises(Forbidden) as err:
        env.as_(new_id(), "manager").add_late_entry(employee_id=employee, project_id=project, date="2019-03-08",
                                                    hours=2, reason="forgot")
    assert err.value.code == "auth.not_manager"
    late = env.as_(manager, "manager").add_late_entry(employee_id=employee, project_id=project, date="2019-03-08",
                                                      hours=2, reason="forgot Friday", command_id="late-1")
    assert late["hours"] == 2 and late["week"] == "2019-W10"
    assert env.as_(manager, "manager").add_late_entry(employee_id=employee, project_id=project, date="2019-03-08",
                                                      hours=2, reason="forgot Friday", command_id="late-1") == late
    open_one = ts.log_time(employee_id=employee, project_id=project, date="2019-03-12", hours=3)

    with pytest.raises(Forbidden) as err:
        env.as_(manager, "manager").mark_invoiced(entry_ids=[late["id"]], invoice_ref="INV-7")
    assert err.value.code == "auth.role"
    with pytest.raises(NotFound):
        ts.mark_invoiced(entry_ids=[late["id"], new_id()], invoice_ref="INV-7")
    marked = ts.mark_invoiced(entry_ids=[late["id"], open_one["id"]], invoice_ref="INV-7")
    assert marked["invoice_ref"] == "INV-7" and marked["position"]
    with pytest.raises(RuleViolation) as err:  # invoiced: only a correction changes it
        ts.amend_entry(entry_id=open_one["id"], hours=1)
    assert err.value.code == "timesheet.entry_invoiced"
    with pytest.raises(RuleViolation) as err:
        ts.mark_invoiced(entry_ids=[open_one["id"]], invoice_ref="INV-8")
    assert err.value.code == "timesheet.already_invoiced"
    ts.correct_entry(entry_id=open_one["id"], hours=2.5, reason="billed 0.5 h too much")

    rows, after = delta_all(ts, cursor["next"], status="all")
    mine = [(r["action"], r["entry_id"], r["hours"], r["invoice_ref"]) for r in rows if r["employee_id"] == employee]
    assert mine == [("add", late["id"], 2, None), ("add", open_one["id"], 3, None),
                    ("reverse", late["id"], 2, None), ("replace", late["id"], 2, "INV-7"),
                    ("reverse", open_one["id"], 3, None), ("replace", open_one["id"], 3, "INV-7"),
                    ("reverse", open_one["id"], 3, "INV-7"), ("replace", open_one["id"], 2.5, None)]
    assert ts.export_hours(since=after)["rows"] == []  # nothing since
    with pytest.raises(ValidationError):
        ts.export_hours(since="yesterday")
    with pytest.raises(ValidationError):
        ts.export_hours(since="0", format="csv")
    with pytest.raises(ValidationError):
        ts.export_hours(status="all")  # a full export names its range


def test_the_export_names_people_projects_and_clients_and_its_csv_is_safe_in_a_spreadsheet(env):
    ts = env.rpc.timesheet
    employee, manager, project = staffed(env, customer="=HYPERLINK(\"http://x\")", name="@Ann, \"the\" Olsen")
    entry = ts.log_time(employee_id=employee, project_id=project, date="2019-04-02", hours=7.5,
                        description="-2+3 \"quoted\", with comma\nand a line")

    def exported():
        rows = [r for r in ts.export_hours(from_date="2019-04-01", to_date="2019-04-30", status="all")["rows"]
                if r["entry_id"] == entry["id"]]
        return rows and rows[0]["employee_name"] and rows[0]

    # rates from a date (the project's BillingRateSet, the person's CostRateSet): priced at those in force on 2 April
    env.emit(project, "BillingRateSet", scope="project", subject_id=None, rate="1000.00", effective_from="2019-01-01")
    env.emit(project, "BillingRateSet", scope="project", subject_id=None, rate="1200.00", effective_from="2019-05-01")
    env.rpc.resource.emit(stream=f"resource-{employee}", type="CostRateSet", data={
        "resource_id": employee, "rate": "333.33", "currency": "NOK", "effective_from": "2019-03-01"})

    def priced():
        row = exported()
        return row and row["cost_rate"] and row["billing_rate"] and row

    row = wait_until(priced, timeout=20, message="the names and rates did not reach the timesheet service")
    assert (row["billing_rate"], row["billable_amount"]) == ("1000.00", "7500.00")
    assert (row["cost_rate"], row["cost_amount"]) == ("333.33", "2499.98")  # 7.5 x 333.33 = 2499.975, half up
    assert list(row) == ["entry_id", "date", "employee_id", "employee_name", "client", "project_id", "project_code",
                         "project_name", "task_id", "task_name", "description", "hours", "billable", "billing_rate",
                         "billable_amount", "cost_rate", "cost_amount", "currency", "status", "approved_by",
                         "approved_at", "invoice_ref"]
    assert row["employee_name"] == "@Ann, \"the\" Olsen" and row["client"] == "=HYPERLINK(\"http://x\")"
    assert row["currency"] == "NOK" and row["project_name"].startswith("Project ")
    text = ts.export_hours(from_date="2019-04-01", to_date="2019-04-30", status="all", format="csv")
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    [line] = [r for r in parsed if r["entry_id"] == entry["id"]]
    assert line["employee_name"] == "'@Ann, \"the\" Olsen" and line["client"] == "'=HYPERLINK(\"http://x\")"
    assert line["description"] == "'-2+3 \"quoted\", with comma\nand a line" and line["hours"] == "7.5"
    assert text.endswith("\r\n") and "\r\n" in text


def test_a_lock_recorded_when_locks_were_by_whole_weeks_still_locks_the_whole_week(env):
    """A PeriodLocked v1 (as recorded by the code before locks by date) in the store: read as a lock through that
    week's Sunday, what it locked then. Last in this module: it moves the lock to 2019-06-09."""
    ts = env.rpc.timesheet
    employee, _, project = staffed(env)
    current = ts.period_lock()["locked_through"]
    store = open_store(eventstore_uri("timesheet", env.config))
    try:
        version = len(store.read_stream("timesheetlock-global")) - 1
        store.append("timesheetlock-global", [NewEvent(type="PeriodLocked", schema_version=1, data={
            "through_date": "2019-06-05", "actor_id": "admin-of-tests", "previous_through_date": current})], version)
    finally:
        store.close()
    lock = ts.period_lock()
    assert lock["locked_through"] == "2019-06-09"  # Wed 5 June locked its whole week, through Sunday 9 June
    assert lock["history"][-1]["requested_through_date"] == "2019-06-05"
    with pytest.raises(RuleViolation) as err:
        ts.log_time(employee_id=employee, project_id=project, date="2019-06-08", hours=1)
    assert err.value.code == "timesheet.period_locked"
    assert ts.log_time(employee_id=employee, project_id=project, date="2019-06-10", hours=1)["week"] == "2019-W24"
