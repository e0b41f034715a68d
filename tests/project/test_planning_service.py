"""The plan's RPCs (phases, task changes, milestones and their check, status reports) through a real nameko
container on RabbitMQ, with the service's clock fixed (``PROJECT_FIXED_NOW``); bookings and hours come from the fake
resource and timesheet services, through their own event registries."""
import uuid
from datetime import datetime, timezone

import pytest

from services.project.service import MILESTONE_TIMER_ACTOR, ProjectService
from shared.errors import Forbidden, NotFound, RuleViolation, ValidationError
from shared.testing import issue_token, rpc_proxy, running, service_config, wait_until

from .conftest import Env, FakeResource, FakeTimesheet

TODAY = "2026-03-13"  # a Friday


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("planning")
    config = service_config(amqp_uri, data_dir, PROJECT_FIXED_NOW=f"{TODAY}T10:00:00Z", MILESTONE_CHECK_SECONDS=3600)
    with running(config, ProjectService, FakeResource, FakeTimesheet) as runner, rpc_proxy(config) as rpc:
        yield Env(config, rpc, data_dir, runner)


def planned(env, **overrides):
    """A project with one member (``member``) and the manager, as ids."""
    project = env.project(**overrides)
    member = env.resource()
    env.rpc.project.assign_member(project_id=project["id"], employee_id=member)
    return project["id"], project["manager_id"], member


def book(env, project_id, resource_id, starts_on, ends_on):
    booking_id = str(uuid.uuid4())
    data = {"resource_id": resource_id, "booking_id": booking_id, "project_id": project_id, "starts_on": starts_on,
            "ends_on": ends_on, "hours_per_day": 7.5, "tentative": False}
    env.rpc.resource.emit(stream=f"resource-{resource_id}", type="ResourceBooked", data=data)
    return booking_id


def log_hours(env, project_id, task_id, employee, hours, week="2026-W11"):
    env.rpc.timesheet.emit(stream=f"timesheet-{employee}_{week.replace('-', '')}", type="TimeLogged", data={
        "entry_id": str(uuid.uuid4()), "employee_id": employee, "week": week, "project_id": project_id,
        "task_id": task_id, "date": "2026-03-10", "hours": hours, "billable": True, "description": ""})


# -- phases ---------------------------------------------------------------------------------------
def test_phases_are_added_in_order_reordered_and_listed(env):
    pid, manager, member = planned(env)
    design = env.rpc.project.add_phase(project_id=pid, name="Design", starts_on="2026-01-01", ends_on="2026-02-28",
                                       budget_hours=400, budget_amount="500000")
    assert design["phase"] == {"id": design["phase"]["id"], "name": "Design", "starts_on": "2026-01-01",
                               "ends_on": "2026-02-28", "budget_hours": 400, "budget_amount": "500000.00",
                               "position": 0}
    build = env.rpc.project.add_phase(project_id=pid, name="Build")["phase"]
    survey = env.rpc.project.add_phase(project_id=pid, name="Survey", position=0)
    assert [p["name"] for p in survey["phases"]] == ["Survey", "Design", "Build"]
    moved = env.rpc.project.update_phase(project_id=pid, phase_id=build["id"], position=0, budget_hours=100.5)
    assert [p["name"] for p in moved["phases"]] == ["Build", "Survey", "Design"]
    assert moved["phase"]["budget_hours"] == 100.5
    assert env.rpc.project.list_phases(project_id=pid) == moved["phases"]
    assert env.rpc.project.get_project(project_id=pid)["phases"] == moved["phases"]
    trail = env.rpc.project.history(project_id=pid)
    updates = [item["changes"] for item in trail if item["type"] == "PhaseUpdated"]
    assert [{"field": "budget_hours", "old": None, "new": 100.5}] in updates
    assert [{"field": "position", "old": 2, "new": 0}] in updates  # Survey went first, then Build


def test_phase_arguments_and_rules(env):
    pid, _, _ = planned(env)
    env.rpc.project.add_phase(project_id=pid, name="Design")
    before = env.head()
    with pytest.raises(RuleViolation) as err:
        env.rpc.project.add_phase(project_id=pid, name="design")
    assert err.value.code == "project.phase_name_taken"
    with pytest.raises(ValidationError) as err:
        env.rpc.project.add_phase(project_id=pid, name="Late", starts_on="2026-02-01", ends_on="2026-01-01")
    assert "ends_on" in err.value.errors
    with pytest.raises(ValidationError):
        env.rpc.project.add_phase(project_id=pid, name="Far", position=5)
    with pytest.raises(NotFound) as err:
        env.rpc.project.update_phase(project_id=pid, phase_id=str(uuid.uuid4()), name="x")
    assert err.value.code == "project.phase_not_found"
    assert env.head() == before


def test_add_phase_is_idempotent_per_command_id(env):
    pid, _, _ = planned(env)
    first = env.rpc.project.add_phase(project_id=pid, name="Design", command_id="phase-once")
    again = env.rpc.project.add_phase(project_id=pid, name="Design", command_id="phase-once")
    assert again == first and len(env.rpc.project.list_phases(project_id=pid)) == 1


# -- tasks ----------------------------------------------------------------------------------------
def test_tasks_have_a_phase_an_assignee_a_due_date_and_their_actual_hours(env):
    pid, manager, member = planned(env)
    phase = env.rpc.project.add_phase(project_id=pid, name="Design")["phase"]
    task = env.rpc.project.add_task(project_id=pid, name="Drawings", estimate_hours=20, phase_id=phase["id"],
                                    assignee_id=member, due_on="2026-03-31")
    assert (task["phase_id"], task["assignee_id"], task["due_on"], task["status"]) == (
        phase["id"], member, "2026-03-31", "todo")
    log_hours(env, pid, task["id"], member, 7.5)
    log_hours(env, pid, task["id"], member, 2.25)
    wait_until(lambda: env.rpc.project.list_tasks(project_id=pid)[0]["actual_hours"] == 9.75,
               message="the hours logged on the task")
    [listed] = env.rpc.project.list_tasks(project_id=pid, phase_id=phase["id"], assignee_id=member, status="todo")
    assert listed == {"id": task["id"], "name": "Drawings", "status": "todo", "estimate_hours": 20, "billable": True,
                      "phase_id": phase["id"], "assignee_id": member, "due_on": "2026-03-31", "actual_hours": 9.75}
    assert env.rpc.project.list_tasks(project_id=pid, status="done") == []
    with pytest.raises(RuleViolation) as err:
        env.rpc.project.add_task(project_id=pid, name="Stranger's", assignee_id=env.resource())
    assert err.value.code == "project.assignee_not_member"


def test_update_task_and_the_history_shows_before_and_after(env):
    pid, manager, member = planned(env)
    task = env.rpc.project.add_task(project_id=pid, name="Design")
    phase = env.rpc.project.add_phase(project_id=pid, name="Design")["phase"]
    out = env.rpc.project.update_task(project_id=pid, task_id=task["id"], name="Drawings", assignee_id=member,
                                      due_on="2026-04-01", estimate_hours=12.5, status="doing", phase_id=phase["id"])
    assert (out["name"], out["assignee_id"], out["due_on"], out["estimate_hours"], out["status"], out["phase_id"]) == (
        "Drawings", member, "2026-04-01", 12.5, "doing", phase["id"])
    moved_out = env.rpc.project.update_task(project_id=pid, task_id=task["id"], phase_id=None, assignee_id=None)
    assert (moved_out["phase_id"], moved_out["assignee_id"]) == (None, None)
    [item, _] = [i for i in env.rpc.project.history(project_id=pid) if i["type"] == "TaskUpdated"]
    assert {"field": "name", "old": "Design", "new": "Drawings"} in item["changes"]
    assert {"field": "status", "old": "todo", "new": "doing"} in item["changes"]
    with pytest.raises(ValidationError):
        env.rpc.project.update_task(project_id=pid, task_id=task["id"], status="closed")


def test_closing_a_task_with_planned_bookings_needs_force_and_it_can_be_reopened(env):
    pid, manager, member = planned(env)
    task = env.rpc.project.add_task(project_id=pid, name="Piling", assignee_id=member)
    book(env, pid, member, "2026-03-02", "2026-03-12")  # over before today: no matter
    book(env, pid, member, "2026-03-16", "2026-03-20")  # the assignee's, from today on
    before = env.head()
    with pytest.raises(RuleViolation) as err:
        env.rpc.project.close_task(project_id=pid, task_id=task["id"])
    assert err.value.code == "project.task_has_bookings"
    with pytest.raises(RuleViolation):
        env.rpc.project.update_task(project_id=pid, task_id=task["id"], status="done")
    assert env.head() == before
    closed = env.rpc.project.close_task(project_id=pid, task_id=task["id"], force=True)
    assert closed["status"] == "done"
    reopened = env.rpc.project.reopen_task(project_id=pid, task_id=task["id"])
    assert reopened["status"] == "todo"
    types = [i["type"] for i in env.rpc.project.history(project_id=pid)]
    assert types[-2:] == ["TaskClosed", "TaskReopened"]


def test_a_cancelled_booking_no_longer_stops_a_close(env):
    pid, manager, member = planned(env)
    task = env.rpc.project.add_task(project_id=pid, name="Survey", assignee_id=member)
    booking = book(env, pid, member, "2026-03-10", "2026-03-27")  # on no task: the assignee's on the project
    with pytest.raises(RuleViolation):
        env.rpc.project.close_task(project_id=pid, task_id=task["id"])
    env.rpc.resource.emit(stream=f"resource-{member}", type="BookingCancelled", data={
        "resource_id": member, "booking_id": booking, "project_id": pid, "reason": "done early",
        "cancelled_from": TODAY})
    assert env.rpc.project.close_task(project_id=pid, task_id=task["id"])["status"] == "done"


# -- milestones -----------------------------------------------------------------------------------
def test_milestones_are_added_changed_completed_and_reopened(env):
    pid, manager, member = planned(env)
    added = env.rpc.project.add_milestone(project_id=pid, name="Foundations", due_on="2026-04-30", owner_id=member)
    mid = added["id"]
    assert (added["status"], added["owner_id"], added["completed_on"]) == ("open", member, None)
    changed = env.rpc.project.update_milestone(project_id=pid, milestone_id=mid, due_on="2026-05-15",
                                               owner_id=manager)
    assert (changed["due_on"], changed["owner_id"]) == ("2026-05-15", manager)
    done = env.rpc.project.complete_milestone(project_id=pid, milestone_id=mid)
    assert (done["status"], done["completed_on"]) == ("done", TODAY)  # the service's today
    assert env.rpc.project.list_milestones(project_id=pid, status="done")[0]["id"] == mid
    assert env.rpc.project.reopen_milestone(project_id=pid, milestone_id=mid)["status"] == "open"
    [item] = [i for i in env.rpc.project.history(project_id=pid) if i["type"] == "MilestoneUpdated"]
    assert {"field": "due_on", "old": "2026-04-30", "new": "2026-05-15"} in item["changes"]
    with pytest.raises(RuleViolation) as err:
        env.rpc.project.add_milestone(project_id=pid, name="x", due_on="2026-04-30", owner_id=env.resource())
    assert err.value.code == "project.owner_not_member"
    with pytest.raises(NotFound):
        env.rpc.project.complete_milestone(project_id=pid, milestone_id=str(uuid.uuid4()))


def test_check_milestones_records_due_soon_once_and_missed_on_its_own(env):
    pid, manager, member = planned(env)
    week = env.rpc.project.add_milestone(project_id=pid, name="Week", due_on="2026-03-20", owner_id=member)
    day = env.rpc.project.add_milestone(project_id=pid, name="Day", due_on=TODAY, owner_id=member)
    past = env.rpc.project.add_milestone(project_id=pid, name="Past", due_on="2026-03-12", owner_id=member)
    far = env.rpc.project.add_milestone(project_id=pid, name="Far", due_on="2026-06-01", owner_id=member)
    out = env.rpc.project.check_milestones()  # the service's today
    mine = {(r["milestone_id"], r["type"], r["days_left"]) for r in out["recorded"] if r["project_id"] == pid}
    assert out["today"] == TODAY
    assert mine == {(week["id"], "MilestoneDueSoon", 7), (day["id"], "MilestoneDueSoon", 0),
                    (past["id"], "MilestoneMissed", None)}
    again = env.rpc.project.check_milestones(today=TODAY)
    assert [r for r in again["recorded"] if r["project_id"] == pid] == []
    statuses = {m["id"]: m["status"] for m in env.rpc.project.list_milestones(project_id=pid)}
    assert statuses == {week["id"]: "open", day["id"]: "open", past["id"]: "missed", far["id"]: "open"}
    notice = next(i for i in env.rpc.project.history(project_id=pid) if i["type"] == "MilestoneMissed")
    assert notice["data"] == {"project_id": pid, "milestone_id": past["id"], "name": "Past", "due_on": "2026-03-12",
                              "owner_id": member, "manager_id": manager}
    later = env.rpc.project.check_milestones(today="2026-03-21")
    assert {(r["milestone_id"], r["type"]) for r in later["recorded"] if r["project_id"] == pid} == {
        (week["id"], "MilestoneMissed"), (day["id"], "MilestoneMissed")}


def test_check_milestones_is_for_admins(env):
    assert env.rpc.project.check_milestones(today=TODAY)["today"] == TODAY  # the test proxy is an admin
    token = issue_token(env.config, env.resource(), "manager")
    with rpc_proxy(env.config, token=token) as as_manager, pytest.raises(Forbidden) as refused:
        as_manager.project.check_milestones(today=TODAY)
    assert refused.value.code == "auth.role"


def test_a_missed_milestone_given_a_later_date_is_open_again(env):
    pid, manager, member = planned(env)
    past = env.rpc.project.add_milestone(project_id=pid, name="Past", due_on="2026-03-01", owner_id=member)
    env.rpc.project.check_milestones(today=TODAY)
    with pytest.raises(RuleViolation) as err:
        env.rpc.project.reopen_milestone(project_id=pid, milestone_id=past["id"])
    assert err.value.code == "project.milestone_missed"
    out = env.rpc.project.update_milestone(project_id=pid, milestone_id=past["id"], due_on="2026-03-19")
    assert out["status"] == "open"
    recorded = env.rpc.project.check_milestones(today=TODAY)["recorded"]
    assert [(r["type"], r["days_left"]) for r in recorded if r["milestone_id"] == past["id"]] == [
        ("MilestoneDueSoon", 6)]  # inside the week already: the days left


# -- status reports -------------------------------------------------------------------------------
def test_status_reports_are_listed_and_read_as_of_a_moment(env):
    pid, manager, member = planned(env)
    risks = [{"description": "Late steel", "impact": "high", "likelihood": "medium"}]
    first = env.rpc.project.record_status_report(project_id=pid, week="2026-W10", rag="green", summary="On track.")
    assert (first["rag"], first["risks"], first["author_id"]) == ("green", [], "admin-of-tests")  # the caller
    between = datetime.now(timezone.utc).isoformat()
    wait_until(lambda: datetime.now(timezone.utc).isoformat() > between, message="time moves on")
    second = env.rpc.project.record_status_report(project_id=pid, week="2026-W11", rag="amber",
                                                  summary="Piling slips a week.", risks=risks, command_id="sr-11")
    again = env.rpc.project.record_status_report(project_id=pid, week="2026-W11", rag="amber",
                                                 summary="Piling slips a week.", risks=risks, command_id="sr-11")
    assert again == second
    reports = env.rpc.project.status_reports(project_id=pid)
    assert [(r["week"], r["rag"]) for r in reports] == [("2026-W10", "green"), ("2026-W11", "amber")]
    assert reports[1]["risks"] == risks and reports[1]["summary"] == "Piling slips a week."
    assert [r["week"] for r in env.rpc.project.status_reports(project_id=pid, as_of=between)] == ["2026-W10"]
    today = datetime.now(timezone.utc).date().isoformat()  # a date: by the end of that day
    assert len(env.rpc.project.status_reports(project_id=pid, as_of=today)) == 2
    for bad in ({"rag": "blue"}, {"week": "2026-W60"},
                {"risks": [{"description": "x", "impact": "huge", "likelihood": "low"}]}):
        with pytest.raises(ValidationError):
            env.rpc.project.record_status_report(**{"project_id": pid, "week": "2026-W12", "rag": "red", **bad})


# -- the timer ------------------------------------------------------------------------------------
def test_the_timer_marks_a_milestone_missed_with_its_fixed_clock(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, PROJECT_FIXED_NOW="2026-03-21T06:00:00Z",
                            MILESTONE_CHECK_SECONDS=0.3)
    with running(config, ProjectService, FakeResource, FakeTimesheet) as runner, rpc_proxy(config) as rpc:
        env = Env(config, rpc, tmp_path, runner)
        pid, manager, member = planned(env)
        milestone = rpc.project.add_milestone(project_id=pid, name="Roof", due_on="2026-03-20", owner_id=member)
        wait_until(lambda: rpc.project.list_milestones(project_id=pid)[0]["status"] == "missed",
                   message="the timer's check")
        trail = rpc.project.history(project_id=pid)
        missed = [i for i in trail if i["type"] == "MilestoneMissed"]
        assert len(missed) == 1 and missed[0]["data"]["milestone_id"] == milestone["id"]
        assert missed[0]["actor"] == MILESTONE_TIMER_ACTOR
        assert missed[0]["command_id"] == f"milestone:{milestone['id']}:2026-03-20:missed:0"


def test_a_booking_changed_to_end_before_today_no_longer_stops_a_close(env):
    """The staffing change's BookingChanged (dates, hours, tentative) and BookingConfirmed, from the resource
    service's own registry, move the booking the close looks at."""
    pid, manager, member = planned(env)
    task = env.rpc.project.add_task(project_id=pid, name="Formwork", assignee_id=member)
    booking = book(env, pid, member, "2026-03-09", "2026-03-20")
    env.rpc.resource.emit(stream=f"resource-{member}", type="BookingConfirmed", data={
        "booking_id": booking, "resource_id": member, "project_id": pid})
    with pytest.raises(RuleViolation):
        env.rpc.project.close_task(project_id=pid, task_id=task["id"])
    env.rpc.resource.emit(stream=f"resource-{member}", type="BookingChanged", data={
        "booking_id": booking, "resource_id": member, "project_id": pid, "starts_on": "2026-03-09",
        "ends_on": "2026-03-12", "hours_per_day": 7.5, "tentative": False, "previous": {"ends_on": "2026-03-20"}})
    assert env.rpc.project.close_task(project_id=pid, task_id=task["id"])["status"] == "done"


def test_a_status_change_takes_effect_on_the_service_s_today(env):
    """Without ``effective_on`` a status change takes effect on the service's own today (its clock, fixed here), the
    day the milestone timer and the forecast also count from."""
    project_id, _, _ = planned(env)
    changed = env.rpc.project.change_status(project_id=project_id, status="on_hold", reason="waiting")
    [event] = [e for e in env.rpc.project.history(project_id=project_id) if e["type"] == "ProjectStatusChanged"]
    assert changed["status"] == "on_hold" and event["data"]["effective_on"] == TODAY
