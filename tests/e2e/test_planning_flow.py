"""Issue 17, end to end: will the project land on time and on budget? Every service is real (project, timesheet,
resource, notification) on the real broker, the calendars fixed (``PROJECT_FIXED_NOW``, ``REMINDER_FIXED_NOW``: Friday
2030-03-22, the last day of the third week of work) and the timers idle (the milestone check is run by hand).

1. A project is planned: two phases with hours and money budgets, two milestones (owners, due dates), tasks in the
   phases, the design booked, and the build booked tentatively, then changed and confirmed.
2. Three weeks of hours are logged, submitted, some approved.
3. ``project_forecast``, ``project_burn`` and ``project_health`` follow the hours: the estimate at completion moves,
   the design phase goes over its hours budget (one ``ForecastOverBudget``, one notice to the manager, however many
   hours come after).
4. A milestone is due, then missed (``check_milestones``): its owner and the manager are told, and the schedule goes
   from amber to red, with the reason in words.

The design's booking lies before the fixed today: past for ``project_forecast`` and, since this flow found they
differed, for the forecast watch too (it took the real date each fact was recorded as today, years before 2030, and
so counted the design's booked days as still ahead: a crossing ``project_forecast`` did not show). On this Friday
the staffing health is green with every working week ahead booked: it used to count the weekend left of the week
as a week not booked (amber)."""
from collections import Counter

import pytest

from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.errors import ChronicleError
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until

pytestmark = pytest.mark.e2e

SERVICES = (ProjectService, TimesheetService, ResourceService, NotificationService)
NOW = "2030-03-22T12:00:00Z"  # a Friday: weeks 2030-W10..W12 are worked, W13 onwards is ahead
WEEK = {"2030-W10": ["2030-03-04", "2030-03-05", "2030-03-06", "2030-03-07", "2030-03-08"],
        "2030-W11": ["2030-03-11", "2030-03-12", "2030-03-13", "2030-03-14", "2030-03-15"],
        "2030-W12": ["2030-03-18", "2030-03-19", "2030-03-20", "2030-03-21", "2030-03-22"]}


def test_a_planned_project_followed_week_by_week_until_a_milestone_is_missed(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, PROJECT_FIXED_NOW=NOW, MILESTONE_CHECK_SECONDS=3600,
                            REMINDER_FIXED_NOW=NOW, REMINDER_CHECK_SECONDS=3600)
    with running(config, *SERVICES), rpc_proxy(config) as rpc:
        mona = rpc.resource.register_resource(name="Mona Manager", email="mona@plan.example")["id"]
        ada = rpc.resource.register_resource(name="Ada Lovelace", email="ada@plan.example", skills=["design"])["id"]
        bob = rpc.resource.register_resource(name="Bob Builder", email="bob@plan.example", skills=["build"])["id"]

        # -- 1. the plan -------------------------------------------------------------------------------------------
        project = rpc.project.create_project(name="Quay", code="QUAY", manager_id=mona, starts_on="2030-03-04",
                                             ends_on="2030-04-26", budget_hours=200, budget_amount="200000.00",
                                             hourly_rate="1000.00")
        pid = project["id"]
        for person in (ada, bob):
            rpc.project.assign_member(project_id=pid, employee_id=person)
        design = rpc.project.add_phase(project_id=pid, name="Design", starts_on="2030-03-04", ends_on="2030-03-15",
                                       budget_hours=40, budget_amount="60000.00")["phase"]
        build = rpc.project.add_phase(project_id=pid, name="Build", starts_on="2030-03-18", ends_on="2030-04-26",
                                      budget_hours=160, budget_amount="160000.00")["phase"]
        sketches = rpc.project.add_task(project_id=pid, name="Sketches", phase_id=design["id"], assignee_id=ada,
                                        estimate_hours=40, due_on="2030-03-15")
        piling = rpc.project.add_task(project_id=pid, name="Piling", phase_id=build["id"], assignee_id=bob,
                                      estimate_hours=150, due_on="2030-04-26")
        review = rpc.project.add_milestone(project_id=pid, name="Design review", due_on="2030-03-27", owner_id=ada)
        rpc.project.add_milestone(project_id=pid, name="Handover", due_on="2030-04-26", owner_id=bob)
        assert [(p["name"], p["position"]) for p in rpc.project.list_phases(project_id=pid)] == [
            ("Design", 0), ("Build", 1)]

        def forecast_is(**expected):
            def check():
                got = rpc.project.project_forecast(project_id=pid)
                return got if all(got[k] == v for k, v in expected.items()) else None
            return wait_until(check, timeout=30, message=f"the forecast does not show {expected}")

        def phases(got):
            return {p["name"]: (p["actual_hours"], p["planned_hours"], p["eac_hours"], p["variance_hours"])
                    for p in got["phases"]}

        got = forecast_is(actual_hours=0, planned_hours=0)
        assert got["today"] == "2030-03-22" and got["eac_hours"] == 0 and got["variance_hours"] == 200
        health = rpc.project.project_health(project_id=pid)
        assert health["today"] == "2030-03-22"
        assert health["staffing"] == {"status": "red", "reason": "no week up to 2030-04-26 is booked: 2030-W13, "
                                                                 "2030-W14, 2030-W15 and 2 more"}
        assert health["schedule"] == {"status": "amber", "reason": "1 open milestone(s) due within 7 days: "
                                                                   "Design review (due 2030-03-27)"}

        # Ada was booked on the design (4 h a day, the two weeks now past): nothing of it is ahead
        ada_booking = rpc.resource.book_resource(resource_id=ada, project_id=pid, starts_on="2030-03-04",
                                                 ends_on="2030-03-15", hours_per_day=4)
        assert ada_booking["overbooked"] is None
        wait_until(lambda: rpc.resource.project_staffing(project_id=pid, from_date="2030-03-04", to_date="2030-03-15")[
            "totals"]["project_booked_hours"] == 40, timeout=20, message="the design booking is not in the staffing")
        assert forecast_is(actual_hours=0)["planned_hours"] == 0
        # Bob is booked on the build, tentatively at 6 h a day (25 working days: 150 h), then cut to 4 h and confirmed
        booking = rpc.resource.book_resource(resource_id=bob, project_id=pid, starts_on="2030-03-25",
                                             ends_on="2030-04-26", hours_per_day=6, tentative=True)
        forecast_is(planned_hours=150, tentative_hours=150)
        changed = rpc.resource.change_booking(resource_id=bob, booking_id=booking["id"], hours_per_day=4)
        assert changed["previous"] == {"hours_per_day": 6} and changed["tentative"] is True
        confirmed = rpc.resource.confirm_booking(resource_id=bob, booking_id=booking["id"])
        assert confirmed["tentative"] is False and confirmed["overbooked"] is None
        got = forecast_is(planned_hours=100, tentative_hours=0)
        assert (got["eac_hours"], got["variance_hours"]) == (100, 100)
        assert (got["planned_amount"], got["eac_amount"], got["variance_amount"]) == (
            "100000.00", "100000.00", "100000.00")
        assert phases(got) == {"Design": (0, 0, 0, 40), "Build": (0, 100, 100, 60)}
        # every week ahead is booked (the weekend left of this Friday's week is none to staff)
        assert rpc.project.project_health(project_id=pid)["staffing"] == {
            "status": "green", "reason": "every week up to 2030-04-26 is booked"}

        # -- 2. and 3. three weeks of hours, the forecast following them ------------------------------------------
        def log(employee, day, hours, task):
            return wait_until(lambda: rpc.timesheet.log_time(employee_id=employee, project_id=pid, date=day,
                                                             hours=hours, task_id=task["id"]),
                              timeout=20, ignore=(ChronicleError,))

        for day in WEEK["2030-W10"]:
            log(ada, day, 4, sketches)
        got = forecast_is(actual_hours=20)
        assert (got["eac_hours"], got["actual_amount"], got["eac_amount"]) == (120, "20000.00", "120000.00")
        assert phases(got)["Design"] == (20, 0, 20, 20)

        for day in WEEK["2030-W11"]:
            log(ada, day, 5, sketches)
        got = forecast_is(actual_hours=45)
        assert phases(got)["Design"] == (45, 0, 45, -5)  # the design phase is forecast over its 40 h
        assert got["eac_hours"] == 145 and got["variance_hours"] == 55

        for day in WEEK["2030-W12"]:
            log(bob, day, 6, piling)
        log(ada, "2030-03-18", 2, sketches)  # more design hours: still over, not a new crossing
        got = forecast_is(actual_hours=77)
        assert (got["planned_hours"], got["eac_hours"], got["variance_hours"]) == (100, 177, 23)
        assert (got["actual_amount"], got["eac_amount"], got["variance_amount"]) == (
            "77000.00", "177000.00", "23000.00")
        assert phases(got) == {"Design": (47, 0, 47, -7), "Build": (30, 100, 130, 30)}
        design_line = next(p for p in got["phases"] if p["name"] == "Design")
        assert (design_line["eac_amount"], design_line["variance_amount"]) == ("47000.00", "13000.00")
        assert got["unphased"]["eac_hours"] == 0

        for week in WEEK:
            rpc.timesheet.submit_timesheet(employee_id=ada, week=week)
        rpc.timesheet.submit_timesheet(employee_id=bob, week="2030-W12")
        with rpc_proxy(config, token=issue_token(config, mona, "manager")) as as_mona:
            for week in ("2030-W10", "2030-W11"):
                as_mona.timesheet.approve_timesheet(employee_id=ada, week=week)
            wait_until(lambda: as_mona.project.project_progress(project_id=pid)["approved_hours"] == 45, timeout=30,
                       message="the approved hours do not reach the project")
            # the manager reads the forecast too
            assert as_mona.project.project_forecast(project_id=pid)["eac_hours"] == 177

        burn = rpc.project.project_burn(project_id=pid, interval="week")
        assert burn["today"] == "2030-03-22" and burn["currency"] == "NOK"
        rows = {row["period"]: row for row in burn["series"]}
        assert list(rows) == [f"2030-W{n}" for n in range(10, 18)]
        assert [(rows[w]["actual_hours"], rows[w]["cumulative_actual_hours"], rows[w]["burn_percent"])
                for w in ("2030-W10", "2030-W11", "2030-W12")] == [(20, 20, 10.0), (25, 45, 22.5), (32, 77, 38.5)]
        # planned: the plan of each week, the past ones included (actual against planned)
        assert [rows[f"2030-W{n}"]["planned_hours"] for n in range(10, 18)] == [20, 20, 0, 20, 20, 20, 20, 20]
        assert rows["2030-W17"]["cumulative_planned_hours"] == 140 and rows["2030-W17"]["forecast_hours"] == 177
        assert rows["2030-W12"]["cumulative_actual_amount"] == "77000.00"

        health = rpc.project.project_health(project_id=pid)
        assert health["budget"] == {"status": "red", "reason": "forecast over budget: phase Design: forecast "
                                                               "47.00 h against a budget of 40.00 h"}
        # 2030-W12 of both waits from the (real) day it was submitted: years of working days before the fixed today
        assert health["approvals"]["status"] == "red"
        assert health["approvals"]["reason"].startswith(
            "2 week(s) waiting more than 3 working days for approval: 2030-W12 of ")
        assert health["overall"] == "red"

        # one crossing: one ForecastOverBudget (the design phase's hours), one notice to the manager
        def crossings():
            return [h["data"] for h in rpc.project.history(project_id=pid) if h["type"] == "ForecastOverBudget"]

        [crossing] = wait_until(crossings, timeout=30, message="no ForecastOverBudget recorded")
        assert (crossing["phase_id"], crossing["budget"], crossing["forecast"], crossing["budget_value"],
                crossing["manager_id"]) == (design["id"], "hours", "45.00", "40.00", mona)

        def inbox(user, kind):
            return [n for n in rpc.notification.inbox(user_id=user) if n["kind"] == kind]

        [notice] = wait_until(lambda: inbox(mona, "forecast_over_budget"), timeout=30,
                              message="the manager is not told of the crossing")
        assert notice["title"] == "Phase Design of project Quay (QUAY) is forecast over its hours budget"
        assert "Forecast: 45.00 h" in notice["body"] and "Budget: 40.00 h" in notice["body"]

        # -- 4. the milestone due, then missed ---------------------------------------------------------------------
        checked = rpc.project.check_milestones()  # the service's today: 2030-03-22, five days before the review
        assert checked["today"] == "2030-03-22"
        assert [(r["milestone_id"], r["type"], r["days_left"]) for r in checked["recorded"]] == [
            (review["id"], "MilestoneDueSoon", 5)]
        on_the_day = rpc.project.check_milestones(today="2030-03-27")
        assert [(r["milestone_id"], r["type"], r["days_left"]) for r in on_the_day["recorded"]] == [
            (review["id"], "MilestoneDueSoon", 0)]
        missed = rpc.project.check_milestones(today="2030-03-28")
        assert [(r["milestone_id"], r["type"]) for r in missed["recorded"]] == [(review["id"], "MilestoneMissed")]
        assert rpc.project.check_milestones(today="2030-03-28")["recorded"] == []  # each notice once
        assert {m["name"]: m["status"] for m in rpc.project.list_milestones(project_id=pid)} == {
            "Design review": "missed", "Handover": "open"}
        assert rpc.project.project_health(project_id=pid)["schedule"] == {
            "status": "red", "reason": "1 milestone(s) missed: Design review (due 2030-03-27)"}

        expected = [("milestone_due", "Milestone Design review of Quay (QUAY) is due in 5 days"),
                    ("milestone_due", "Milestone Design review of Quay (QUAY) is due today"),
                    ("milestone_missed", "Milestone Design review of Quay (QUAY) was missed")]
        for person in (ada, mona):  # the owner and the manager
            wait_until(lambda person=person: sorted(
                (n["kind"], n["title"]) for n in rpc.notification.inbox(user_id=person)
                if n["kind"].startswith("milestone")) == expected, timeout=30,
                message=f"{person} is not told of the milestone")
        assert not [n for n in rpc.notification.inbox(user_id=bob) if n["kind"].startswith("milestone")]

        # staffing: Ada's design booking and Bob's build booking; the hours no booking covers: Ada's 2 h on the
        # build's first Monday and Bob's week before his booking starts
        staffing = rpc.resource.project_staffing(project_id=pid, from_date="2030-03-04", to_date="2030-04-26")
        assert staffing["totals"] == {"project_booked_hours": 140, "project_tentative_hours": 0, "logged_hours": 77,
                                      "logged_unbooked_hours": 32}
        assert [(p["name"], p["hours"]) for p in staffing["logged_without_booking"]] == [
            ("Ada Lovelace", 2), ("Bob Builder", 30)]

        # nothing told twice: still one crossing notice for the manager, and one ForecastOverBudget
        kinds = Counter(n["kind"] for n in rpc.notification.inbox(user_id=mona))
        assert kinds["forecast_over_budget"] == 1 and kinds["milestone_missed"] == 1
        assert len(crossings()) == 1
