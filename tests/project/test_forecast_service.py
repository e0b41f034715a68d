"""project_forecast, project_burn, project_health and the forecast watch, through a real project container on the
real broker, fed by fake resource and timesheet services (their events checked against their own registries).

The calendar is fixed (``PROJECT_FIXED_NOW``): a Wednesday two weeks after the real date, because the approvals'
wait starts at the real moment a week was submitted (the time the event was recorded)."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from services.project import forecast as fc
from services.project.service import ProjectService
from shared.errors import ValidationError
from shared.testing import rpc_proxy, running, service_config, wait_until

from .conftest import Env, FakeResource, FakeTimesheet

REAL = datetime.now(timezone.utc).date()
TODAY = REAL + timedelta(days=14 - REAL.weekday() + 2)  # a Wednesday, 13 to 19 days ahead
MONDAY = TODAY + timedelta(days=5)  # the Monday after TODAY's week
FAR = date(2031, 1, 6)  # a Monday after any day these tests run


def iso(day):
    return day.isoformat()


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("project-forecast")
    config = service_config(amqp_uri, data_dir, PROJECT_FIXED_NOW=f"{iso(TODAY)}T12:00:00Z")
    with running(config, ProjectService, FakeResource, FakeTimesheet) as runner, rpc_proxy(config) as rpc:
        yield Env(config, rpc, data_dir, runner)


class Facts:
    """Emits the resource and timesheet facts of one project."""

    def __init__(self, env, project_id):
        self.env, self.project_id = env, project_id

    def log(self, employee, hours, day, entry_id=None):
        day = date.fromisoformat(day) if isinstance(day, str) else day
        week = f"{day.isocalendar()[0]:04d}-W{day.isocalendar()[1]:02d}"
        data = {"entry_id": entry_id or str(uuid.uuid4()), "employee_id": employee, "week": week,
                "project_id": self.project_id, "task_id": None, "date": iso(day), "hours": hours, "billable": True,
                "description": ""}
        self.env.rpc.timesheet.emit(stream=f"timesheet-{employee}_{week.replace('-', '')}", type="TimeLogged",
                                    data=data)
        return data

    def submit(self, employee, week):
        self.env.rpc.timesheet.emit(stream=f"timesheet-{employee}_{week.replace('-', '')}", type="TimesheetSubmitted",
                                    data={"employee_id": employee, "week": week, "total_hours": 8, "actor_id": employee,
                                          "projects": [{"project_id": self.project_id, "hours": 8,
                                                        "billable_hours": 8, "manager_id": None}]})

    def book(self, resource, starts_on, ends_on, per_day, tentative=False):
        booking_id = str(uuid.uuid4())
        self.env.rpc.resource.emit(stream=f"resource-{resource}", type="ResourceBooked", data={
            "resource_id": resource, "booking_id": booking_id, "project_id": self.project_id,
            "starts_on": iso(starts_on), "ends_on": iso(ends_on), "hours_per_day": per_day, "tentative": tentative})
        return booking_id

    def cancel(self, resource, booking_id):
        self.env.rpc.resource.emit(stream=f"resource-{resource}", type="BookingCancelled", data={
            "resource_id": resource, "booking_id": booking_id, "project_id": self.project_id, "reason": "cancelled",
            "cancelled_from": None})

    def absent(self, resource, starts_on, ends_on, per_day=None):
        self.env.rpc.resource.emit(stream=f"resource-{resource}", type="AbsenceRegistered", data={
            "resource_id": resource, "absence_id": str(uuid.uuid4()), "starts_on": iso(starts_on),
            "ends_on": iso(ends_on), "kind": "vacation", "hours_per_day": per_day})


def forecast_is(env, project_id, **expected):
    def check():
        got = env.rpc.project.project_forecast(project_id=project_id)
        assert {k: got[k] for k in expected} == expected, got
        return got
    return wait_until(check, timeout=15, message="forecast")


def crossings(env, project_id):
    return [(e["type"], e["data"]["budget"], e["data"]["forecast"]) for e in env.rpc.project.history(project_id=project_id)
            if e["type"] in ("ForecastOverBudget", "ForecastBackWithinBudget")]


def test_forecast_from_logged_hours_and_bookings_less_absences(env):
    project = env.project(budget_hours=40, budget_amount="40000.00", hourly_rate="1000.00")
    pid, ann = project["id"], env.resource()
    env.rpc.project.assign_member(project_id=pid, employee_id=ann, hourly_rate="1200.00")
    facts = Facts(env, pid)
    facts.log(ann, 7.5, TODAY - timedelta(days=2))
    facts.book(ann, MONDAY, MONDAY + timedelta(days=6), 4)  # Mon-Fri: 20 h
    facts.book(ann, TODAY - timedelta(days=2), TODAY, 8)  # in the past: planned, but not ahead
    facts.absent(ann, MONDAY + timedelta(days=1), MONDAY + timedelta(days=1))  # a whole day: 4 h fewer
    facts.absent(ann, MONDAY + timedelta(days=2), MONDAY + timedelta(days=2), 5.5)  # 7.5 - 5.5 leaves 2 h of 4

    got = forecast_is(env, pid, actual_hours=7.5, planned_hours=14)
    assert got == {**got, "project_id": pid, "today": iso(TODAY), "currency": "NOK",
                   "tentative_hours": 0, "eac_hours": 21.5, "budget_hours": 40, "variance_hours": 18.5,
                   "actual_amount": "9000.00", "planned_amount": "16800.00", "eac_amount": "25800.00",
                   "budget_amount": "40000.00", "variance_amount": "14200.00", "unpriced_hours": 0,
                   "phases": [], "unphased": None}


def test_burn_by_week_and_by_month(env):
    project = env.project(budget_hours=20, starts_on=iso(TODAY - timedelta(days=9)),
                          ends_on=iso(MONDAY + timedelta(days=6)))
    pid, ann = project["id"], env.resource()
    facts = Facts(env, pid)
    facts.book(ann, TODAY - timedelta(days=9), MONDAY + timedelta(days=4), 2)  # 3 weeks x 5 days x 2 h
    facts.log(ann, 6, TODAY - timedelta(days=8))
    forecast_is(env, pid, actual_hours=6)

    weeks = env.rpc.project.project_burn(project_id=pid)["series"]
    assert [w["period"] for w in weeks] == [fc._period_of(TODAY + timedelta(days=d), "week")[0] for d in (-7, 0, 7)]
    assert [(w["actual_hours"], w["planned_hours"]) for w in weeks] == [(6, 10), (0, 10), (0, 10)]
    assert [w["cumulative_planned_hours"] for w in weeks] == [10, 20, 30]
    assert [w["forecast_hours"] for w in weeks] == [6, 6 + 4, 6 + 4 + 10]  # Thursday and Friday ahead this week
    assert [w["burn_percent"] for w in weeks] == [30.0, 30.0, 30.0]
    months = env.rpc.project.project_burn(project_id=pid, interval="month")
    assert months["interval"] == "month" and sum(m["planned_hours"] for m in months["series"]) == 30
    with pytest.raises(ValidationError) as refused:
        env.rpc.project.project_burn(project_id=pid, interval="day")
    assert "interval" in refused.value.errors


def test_health_in_words(env):
    project = env.project(budget_hours=10, ends_on=iso(MONDAY + timedelta(days=13)))
    pid, ann = project["id"], env.resource()
    facts = Facts(env, pid)
    facts.book(ann, MONDAY, MONDAY + timedelta(days=4), 1)  # next week booked, the one after not
    facts.log(ann, 9.5, TODAY - timedelta(days=1))
    week = f"{REAL.isocalendar()[0]:04d}-W{REAL.isocalendar()[1]:02d}"
    facts.submit(ann, week)  # now, really: at least 8 working days before TODAY
    forecast_is(env, pid, actual_hours=9.5)

    def health():
        got = env.rpc.project.project_health(project_id=pid)
        assert got["approvals"]["status"] == "red", got
        return got
    got = wait_until(health, timeout=15, message="health")
    assert got["schedule"] == {"status": "green", "reason": "no milestones"}
    assert got["budget"]["status"] == "red"  # 9.5 logged + 5 booked ahead against 10
    assert got["budget"]["reason"] == "forecast over budget: the project: forecast 14.50 h against a budget of 10.00 h"
    this_week = fc._period_of(TODAY, "week")[0]
    last_week = fc._period_of(MONDAY + timedelta(days=7), "week")[0]
    assert got["staffing"] == {"status": "amber",
                               "reason": f"2 of 3 weeks up to {iso(MONDAY + timedelta(days=13))} unbooked: "
                                         f"{this_week}, {last_week}"}
    assert got["approvals"]["reason"].startswith(f"1 week(s) waiting more than 3 working days for approval: {week}")
    assert got["overall"] == "red" and got["today"] == iso(TODAY) and got["waiting_days"] == 3
    assert env.rpc.project.project_health(project_id=pid, waiting_days=60)["approvals"]["status"] == "green"


def test_forecast_over_budget_is_recorded_once_per_crossing(env):
    project = env.project(budget_hours=10)
    pid, ann = project["id"], env.resource()
    facts = Facts(env, pid)
    facts.log(ann, 6, REAL - timedelta(days=1))
    booking = facts.book(ann, FAR, FAR, 8)  # 14 h forecast: over
    wait_until(lambda: crossings(env, pid) == [("ForecastOverBudget", "hours", "14.00")], timeout=15,
               message="the crossing")
    facts.log(ann, 1, REAL - timedelta(days=1))  # still over: nothing new
    forecast_is(env, pid, eac_hours=15)
    facts.cancel(ann, booking)  # 7 h: back within
    wait_until(lambda: crossings(env, pid)[1:] == [("ForecastBackWithinBudget", "hours", "7.00")], timeout=15,
               message="back within")
    facts.book(ann, FAR, FAR + timedelta(days=1), 2)  # 11 h: over again, recorded again
    wait_until(lambda: crossings(env, pid)[2:] == [("ForecastOverBudget", "hours", "11.00")], timeout=15,
               message="the next crossing")
    [over] = [e for e in env.rpc.project.history(project_id=pid) if e["type"] == "ForecastOverBudget"][:1]
    assert over["data"] == {"project_id": pid, "phase_id": None, "budget": "hours", "forecast": "14.00",
                            "budget_value": "10.00", "manager_id": project["manager_id"]}
    assert over["actor"] == "reactor:forecast"
    assert len(crossings(env, pid)) == 3


def test_per_phase_figures_a_phase_crossing_and_milestones_in_health(env):
    """Phases from the plan: hours go to their task's phase, else to the phase whose dates hold their day. A phase
    whose forecast goes over its own budget is a crossing of its own (phase_id set); a milestone past its date
    turns the schedule red."""
    project = env.project(budget_hours=100, starts_on=iso(TODAY - timedelta(days=30)))
    pid, ann = project["id"], env.resource()
    env.rpc.project.assign_member(project_id=pid, employee_id=ann)
    design = env.rpc.project.add_phase(project_id=pid, name="Design", starts_on=iso(TODAY - timedelta(days=30)),
                                       ends_on=iso(TODAY), budget_hours=10)
    build = env.rpc.project.add_phase(project_id=pid, name="Build", starts_on=iso(TODAY + timedelta(days=1)),
                                      ends_on=iso(FAR + timedelta(days=30)), budget_hours=20)
    assert design["phase"]["name"] == "Design"
    build_id = build["phase"]["id"]
    task = env.rpc.project.add_task(project_id=pid, name="Early build", phase_id=build_id)
    facts = Facts(env, pid)
    facts.log(ann, 4, TODAY - timedelta(days=3))  # Design, by its date
    early = facts.log(ann, 2, TODAY - timedelta(days=3))
    env.rpc.timesheet.emit(stream=f"timesheet-{ann}_{early['week'].replace('-', '')}", type="TimeEntryAmended",
                           data={**early, "task_id": task["id"], "previous": {"task_id": None}, "reason": "task"})
    facts.book(ann, FAR, FAR + timedelta(days=4), 5)  # 25 h in Build: over its 20

    got = forecast_is(env, pid, actual_hours=6, planned_hours=25)
    assert [(p["name"], p["actual_hours"], p["planned_hours"], p["variance_hours"]) for p in got["phases"]] == [
        ("Design", 4, 0, 6), ("Build", 2, 25, -7)]
    assert got["unphased"]["eac_hours"] == 0
    wait_until(lambda: [(e["data"]["phase_id"], e["data"]["forecast"]) for e in env.rpc.project.history(project_id=pid)
                        if e["type"] == "ForecastOverBudget"] == [(build_id, "27.00")], timeout=15,
               message="the phase's crossing")

    env.rpc.project.add_milestone(project_id=pid, name="Sketches", due_on=iso(TODAY - timedelta(days=1)),
                                  owner_id=ann)
    health = wait_until(lambda: env.rpc.project.project_health(project_id=pid), timeout=15)
    assert health["schedule"] == {"status": "red",
                                  "reason": f"1 milestone(s) missed: Sketches (due {iso(TODAY - timedelta(days=1))})"}
    assert health["budget"]["reason"] == ("forecast over budget: phase Build: forecast 27.00 h against a budget of "
                                          "20.00 h")


def test_money_at_the_rates_in_force_and_a_money_crossing_caused_by_a_rate(env):
    """Hours are priced at the billing rate in force on their day (money's dated rates): a new rate from a later date
    reprices only the days from then, and the forecast going over the money budget because of it is a crossing."""
    project = env.project(budget_amount="10000.00", hourly_rate="1000.00")
    pid, ann = project["id"], env.resource()
    facts = Facts(env, pid)
    facts.log(ann, 5, REAL - timedelta(days=1))
    facts.book(ann, FAR, FAR + timedelta(days=1), 2)  # 4 h ahead: 9000.00 in all, within
    forecast_is(env, pid, eac_amount="9000.00", planned_hours=4)
    env.rpc.project.set_rate(project_id=pid, scope="project", subject_id=None, rate="1500.00",
                             effective_from=iso(FAR + timedelta(days=1)))  # the Tuesday's 2 h at 1500
    got = forecast_is(env, pid, eac_amount="10000.00")
    assert (got["actual_amount"], got["planned_amount"], got["variance_amount"]) == ("5000.00", "5000.00", "0.00")
    assert crossings(env, pid) == []  # at the budget is within it
    env.rpc.project.set_rate(project_id=pid, scope="project", subject_id=None, rate="2000.00",
                             effective_from=iso(FAR + timedelta(days=1)))
    forecast_is(env, pid, eac_amount="11000.00", variance_amount="-1000.00")
    wait_until(lambda: crossings(env, pid) == [("ForecastOverBudget", "money", "11000.00")], timeout=15,
               message="the money crossing")


def test_a_confirmed_and_a_changed_booking_move_the_plan(env):
    """The resource service's BookingConfirmed and BookingChanged (its own events, through its registry)."""
    project = env.project(budget_hours=100)
    pid, ann = project["id"], env.resource()
    facts = Facts(env, pid)
    booking = facts.book(ann, MONDAY, MONDAY + timedelta(days=4), 4, tentative=True)
    forecast_is(env, pid, planned_hours=20, tentative_hours=20)
    env.rpc.resource.emit(stream=f"resource-{ann}", type="BookingConfirmed",
                          data={"booking_id": booking, "resource_id": ann, "project_id": pid})
    forecast_is(env, pid, planned_hours=20, tentative_hours=0)
    env.rpc.resource.emit(stream=f"resource-{ann}", type="BookingChanged", data={
        "booking_id": booking, "resource_id": ann, "project_id": pid, "starts_on": iso(MONDAY),
        "ends_on": iso(MONDAY + timedelta(days=1)), "hours_per_day": 3, "tentative": False,
        "previous": {"ends_on": iso(MONDAY + timedelta(days=4)), "hours_per_day": 4}})
    forecast_is(env, pid, planned_hours=6, tentative_hours=0, eac_hours=6, variance_hours=94)
