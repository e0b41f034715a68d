"""Given/when/then on events: phases, milestones (due soon once, missed on their own), task changes and status
reports, with no I/O."""
import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from services.project.domain import Project
from services.project.events import events as registry
from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.testing import given, recorded, recorded_types

from .test_domain import MANAGER, PID, TASK, created

EMP = "33333333-3333-3333-3333-333333333333"
OTHER = "55555555-5555-5555-5555-555555555555"
P1, P2, P3 = "phase-1", "phase-2", "phase-3"
M1 = "milestone-1"


def assert_valid(project):
    for event_type, data in recorded(project):
        registry.validate(event_type, data)


def member(employee_id=EMP):
    return ("MemberAssigned", dict(project_id=PID, project_code="HB-1", project_name="Harbour",
                                   employee_id=employee_id, role="member", hourly_rate=None))


def phase(phase_id, position, name=None, budget_hours=None):
    return ("PhaseAdded", dict(project_id=PID, phase_id=phase_id, name=name or phase_id, starts_on=None, ends_on=None,
                               budget_hours=budget_hours, budget_amount=None, position=position))


def task(task_id=TASK, name="Design", **extra):
    return ("TaskAdded", dict(project_id=PID, task_id=task_id, name=name, estimate_hours=None, billable=None,
                              phase_id=None, assignee_id=None, due_on=None, status="todo") | extra)


def milestone(due_on="2026-03-20", owner_id=EMP):
    return ("MilestoneAdded", dict(project_id=PID, milestone_id=M1, name="Foundations", due_on=due_on,
                                   owner_id=owner_id))


# -- phases ---------------------------------------------------------------------------------
def test_add_phases_in_order_with_budgets():
    project = given(Project, PID, created())
    project.add_phase(P1, "Design", "2026-01-01", "2026-02-28", 40_000, "50000.00")
    project.add_phase(P2, "Build")
    assert recorded(project)[0] == ("PhaseAdded", dict(
        project_id=PID, phase_id=P1, name="Design", starts_on="2026-01-01", ends_on="2026-02-28", budget_hours=400,
        budget_amount="50000.00", position=0))
    assert [p["id"] for p in project.phase_list()] == [P1, P2]
    assert project.to_dict()["phases"][0]["budget_hours"] == 400
    assert_valid(project)


def test_a_phase_added_before_others_moves_them_down():
    project = given(Project, PID, created(), phase(P1, 0), phase(P2, 1))
    project.add_phase(P3, "First", position=0)
    assert recorded_types(project) == ["PhaseAdded", "PhaseUpdated", "PhaseUpdated", "PhaseUpdated"]
    assert [p["id"] for p in project.phase_list()] == [P3, P1, P2]
    assert recorded(project)[1][1] == dict(project_id=PID, phase_id=P3, changes={"position": 0},
                                           previous={"position": 2})
    assert_valid(project)


def test_reorder_is_a_change_of_position_for_each_phase_that_moves():
    project = given(Project, PID, created(), phase(P1, 0), phase(P2, 1), phase(P3, 2))
    project.update_phase(P3, {"position": 1})
    assert recorded(project) == [
        ("PhaseUpdated", dict(project_id=PID, phase_id=P3, changes={"position": 1}, previous={"position": 2})),
        ("PhaseUpdated", dict(project_id=PID, phase_id=P2, changes={"position": 2}, previous={"position": 1})),
    ]
    assert [p["id"] for p in project.phase_list()] == [P1, P3, P2]


def test_update_phase_records_before_and_after_of_what_changed_only():
    project = given(Project, PID, created(), phase(P1, 0, name="Design", budget_hours=10))
    project.update_phase(P1, {"name": "Design", "budget_hours": 2_050, "ends_on": "2026-05-01"})
    assert recorded(project) == [("PhaseUpdated", dict(
        project_id=PID, phase_id=P1, changes={"budget_hours": 20.5, "ends_on": "2026-05-01"},
        previous={"budget_hours": 10, "ends_on": None}))]
    project = given(Project, PID, created(), phase(P1, 0))
    project.update_phase(P1, {"name": P1})
    assert recorded(project) == []


@pytest.mark.parametrize("attempt,error,code", [
    (lambda p: p.update_phase("nope", {"name": "x"}), NotFound, "project.phase_not_found"),
    (lambda p: p.add_phase(P3, "PHASE-1"), RuleViolation, "project.phase_name_taken"),
    (lambda p: p.add_phase(P3, "x", position=3), ValidationError, "validation_failed"),
    (lambda p: p.update_phase(P1, {"position": 2}), ValidationError, "validation_failed"),
    (lambda p: p.add_phase(P3, "x", "2026-02-01", "2026-01-01"), ValidationError, "validation_failed"),
])
def test_phase_rules(attempt, error, code):
    project = given(Project, PID, created(), phase(P1, 0), phase(P2, 1))
    with pytest.raises(error) as err:
        attempt(project)
    assert err.value.code == code and recorded(project) == []


# -- tasks ----------------------------------------------------------------------------------
def test_add_task_in_a_phase_with_an_assignee_and_due_date():
    project = given(Project, PID, created(), member(), phase(P1, 0))
    project.add_task(TASK, "Design", 1_000, None, phase_id=P1, assignee_id=EMP, due_on="2026-03-01")
    [(_, data)] = recorded(project)
    assert (data["phase_id"], data["assignee_id"], data["due_on"], data["status"]) == (P1, EMP, "2026-03-01", "todo")
    assert_valid(project)


def test_a_task_version_1_reads_as_todo_without_phase():
    upcast = registry._upcasters[("TaskAdded", 1)](dict(project_id=PID, task_id=TASK, name="x", estimate_hours=None,
                                                         billable=None))
    assert (upcast["phase_id"], upcast["assignee_id"], upcast["due_on"], upcast["status"]) == (None, None, None, "todo")


@pytest.mark.parametrize("kwargs,error,code", [
    (dict(assignee_id=OTHER), RuleViolation, "project.assignee_not_member"),
    (dict(phase_id="nope"), NotFound, "project.phase_not_found"),
])
def test_a_task_assignee_is_a_member_and_its_phase_exists(kwargs, error, code):
    project = given(Project, PID, created(), member())
    with pytest.raises(error) as err:
        project.add_task(TASK, "Design", **kwargs)
    assert err.value.code == code
    with pytest.raises(error):
        given(Project, PID, created(), member(), task()).update_task(TASK, kwargs)


def test_update_task_records_before_and_after():
    project = given(Project, PID, created(), member(), phase(P1, 0), task())
    project.update_task(TASK, {"name": "Drawings", "assignee_id": EMP, "due_on": "2026-04-01",
                               "estimate_hours": 1_250, "status": "doing", "phase_id": P1})
    assert recorded(project) == [("TaskUpdated", dict(
        project_id=PID, task_id=TASK,
        changes={"name": "Drawings", "assignee_id": EMP, "due_on": "2026-04-01", "estimate_hours": 12.5,
                 "phase_id": P1, "status": "doing"},
        previous={"name": "Design", "assignee_id": None, "due_on": None, "estimate_hours": None, "phase_id": None,
                  "status": "todo"}))]
    assert project.task_view(TASK, 150)["actual_hours"] == 1.5
    assert_valid(project)


def test_renaming_to_another_tasks_name_is_a_conflict_but_a_case_change_is_not():
    project = given(Project, PID, created(), task(), task("t2", "Build"))
    with pytest.raises(Conflict):
        project.update_task(TASK, {"name": "build"})
    project.update_task(TASK, {"name": "DESIGN"})
    assert recorded_types(project) == ["TaskUpdated"]


BOOKING = dict(booking_id="b1", resource_id=EMP, task_id=None, starts_on="2026-03-02", ends_on="2026-03-13")


def test_closing_a_task_with_planned_bookings_is_refused_unless_forced():
    project = given(Project, PID, created(), member(), task(assignee_id=EMP))
    with pytest.raises(RuleViolation) as err:
        project.close_task(TASK, bookings=[BOOKING], today="2026-03-13")
    assert err.value.code == "project.task_has_bookings" and recorded(project) == []
    project.close_task(TASK, bookings=[BOOKING], today="2026-03-13", force=True)
    assert recorded_types(project) == ["TaskClosed"]


@pytest.mark.parametrize("booking,today", [
    (BOOKING, "2026-03-14"),  # over by today
    (BOOKING | {"resource_id": OTHER}, "2026-03-01"),  # someone else's, on no task
    (BOOKING | {"task_id": "another-task"}, "2026-03-01"),  # the assignee's, on another task
])
def test_bookings_that_do_not_stop_a_close(booking, today):
    project = given(Project, PID, created(), member(), task(assignee_id=EMP))
    project.close_task(TASK, bookings=[booking], today=today)
    assert recorded_types(project) == ["TaskClosed"]


def test_a_booking_naming_the_task_stops_its_close_whoever_is_booked():
    project = given(Project, PID, created(), task())
    with pytest.raises(RuleViolation):
        project.close_task(TASK, bookings=[BOOKING | {"task_id": TASK, "resource_id": OTHER}], today="2026-03-01")


def test_status_done_closes_and_leaving_done_reopens():
    project = given(Project, PID, created(), task())
    project.update_task(TASK, {"status": "done"})
    assert recorded_types(project) == ["TaskClosed"] and not project.takes_hours(TASK)
    project = given(Project, PID, created(), task(), ("TaskClosed", dict(project_id=PID, task_id=TASK)))
    project.update_task(TASK, {"status": "doing"})
    assert recorded(project) == [
        ("TaskReopened", dict(project_id=PID, task_id=TASK)),
        ("TaskUpdated", dict(project_id=PID, task_id=TASK, changes={"status": "doing"}, previous={"status": "todo"}))]
    assert project.takes_hours(TASK)


def test_status_done_keeps_the_bookings_rule():
    project = given(Project, PID, created(), member(), task(assignee_id=EMP))
    with pytest.raises(RuleViolation):
        project.update_task(TASK, {"status": "done", "name": "Renamed"}, bookings=[BOOKING], today="2026-03-01")


def test_reopen_task():
    project = given(Project, PID, created(), task(), ("TaskClosed", dict(project_id=PID, task_id=TASK)))
    project.reopen_task(TASK)
    assert recorded_types(project) == ["TaskReopened"] and project.tasks[TASK]["status"] == "todo"
    project.reopen_task(TASK)  # open already: nothing more
    assert recorded_types(project) == ["TaskReopened"]


# -- milestones -----------------------------------------------------------------------------
def test_add_milestone_owned_by_a_member_or_the_manager():
    project = given(Project, PID, created(), member())
    project.add_milestone(M1, "Foundations", "2026-03-20", EMP)
    project.add_milestone("m2", "Handover", "2026-06-01", MANAGER)
    assert [m["status"] for m in project.milestone_list()] == ["open", "open"]
    assert_valid(project)
    with pytest.raises(RuleViolation) as err:
        project.add_milestone("m3", "x", "2026-06-01", OTHER)
    assert err.value.code == "project.owner_not_member"


@pytest.mark.parametrize("today,expected", [
    ("2026-03-12", []),
    ("2026-03-13", [("MilestoneDueSoon", 7)]),
    ("2026-03-17", [("MilestoneDueSoon", 3)]),  # the week's notice, caught up after a check that did not run
    ("2026-03-20", [("MilestoneDueSoon", 0)]),
    ("2026-03-21", [("MilestoneMissed", None)]),
])
def test_the_check_records_what_the_day_calls_for(today, expected):
    project = given(Project, PID, created(), member(), milestone())
    project.check_milestone(M1, today)
    assert [(t, d.get("days_left")) for t, d in recorded(project)] == expected
    for _, data in recorded(project):
        assert (data["owner_id"], data["manager_id"], data["due_on"], data["name"]) == (
            EMP, MANAGER, "2026-03-20", "Foundations")
    assert_valid(project)


def test_each_notice_is_recorded_once_and_a_missed_milestone_is_missed_on_its_own():
    project = given(Project, PID, created(), member(), milestone())
    for today in ("2026-03-13", "2026-03-14", "2026-03-20", "2026-03-20", "2026-03-21", "2026-03-22"):
        project.check_milestone(M1, today)
    assert [(t, d.get("days_left")) for t, d in recorded(project)] == [
        ("MilestoneDueSoon", 7), ("MilestoneDueSoon", 0), ("MilestoneMissed", None)]
    assert project.milestone(M1)["status"] == "missed"


def test_a_week_notice_caught_up_late_is_still_recorded_once():
    project = given(Project, PID, created(), member(), milestone())
    for today in ("2026-03-18", "2026-03-19"):
        project.check_milestone(M1, today)
    assert [(t, d.get("days_left")) for t, d in recorded(project)] == [("MilestoneDueSoon", 2)]
    rebuilt = given(Project, PID, created(), member(), milestone(), *recorded(project))
    assert rebuilt.milestone_notice_due(M1, "2026-03-19") is None


def test_a_done_milestone_gets_no_notice():
    project = given(Project, PID, created(), member(), milestone(),
                    ("MilestoneCompleted", dict(project_id=PID, milestone_id=M1, completed_on="2026-03-10")))
    project.check_milestone(M1, "2026-03-25")
    assert recorded(project) == [] and project.milestone_notice_due(M1, "2026-03-25") is None


def test_notice_keys_name_the_date_and_the_round():
    project = given(Project, PID, created(), member(), milestone())
    assert project.milestone_notice_due(M1, "2026-03-13") == "2026-03-20:due-7"
    assert project.milestone_notice_due(M1, "2026-03-21") == "2026-03-20:missed:0"


def test_complete_reopen_and_miss_again():
    project = given(Project, PID, created(), member(), milestone())
    project.complete_milestone(M1, "2026-03-19")
    project.complete_milestone(M1, "2026-03-19")  # done already: nothing more
    assert project.milestone(M1)["completed_on"] == "2026-03-19"
    project.reopen_milestone(M1)
    assert project.milestone(M1)["status"] == "open" and project.milestone(M1)["completed_on"] is None
    assert project.milestone_notice_due(M1, "2026-03-21") == "2026-03-20:missed:1"
    project.check_milestone(M1, "2026-03-21")
    assert recorded_types(project) == ["MilestoneCompleted", "MilestoneReopened", "MilestoneMissed"]


def test_a_missed_milestone_is_reopened_by_a_new_date_not_past():
    missed = ("MilestoneMissed", dict(project_id=PID, milestone_id=M1, name="Foundations", due_on="2026-03-20",
                                      owner_id=EMP, manager_id=MANAGER))
    project = given(Project, PID, created(), member(), milestone(), missed)
    with pytest.raises(RuleViolation) as err:
        project.reopen_milestone(M1)
    assert err.value.code == "project.milestone_missed"
    project.update_milestone(M1, {"due_on": "2026-03-10"}, today="2026-03-22")  # still past: still missed
    assert recorded_types(project) == ["MilestoneUpdated"] and project.milestone(M1)["status"] == "missed"
    project = given(Project, PID, created(), member(), milestone(), missed)
    project.update_milestone(M1, {"due_on": "2026-04-10", "name": "Foundations"}, today="2026-03-22")
    assert recorded(project) == [
        ("MilestoneUpdated", dict(project_id=PID, milestone_id=M1, changes={"due_on": "2026-04-10"},
                                  previous={"due_on": "2026-03-20"})),
        ("MilestoneReopened", dict(project_id=PID, milestone_id=M1))]
    assert project.milestone_notice_due(M1, "2026-04-03") == "2026-04-10:due-7"  # a new date: new notices
    assert_valid(project)


def test_a_completed_late_milestone_is_done():
    missed = ("MilestoneMissed", dict(project_id=PID, milestone_id=M1, name="Foundations", due_on="2026-03-20",
                                      owner_id=EMP, manager_id=MANAGER))
    project = given(Project, PID, created(), member(), milestone(), missed)
    project.complete_milestone(M1, "2026-03-25")
    assert project.milestone(M1)["status"] == "done"


def test_milestone_owner_changes_only_to_a_member():
    project = given(Project, PID, created(), member(), milestone())
    with pytest.raises(RuleViolation):
        project.update_milestone(M1, {"owner_id": OTHER}, today="2026-03-01")
    with pytest.raises(NotFound) as err:
        project.complete_milestone("nope", "2026-03-01")
    assert err.value.code == "project.milestone_not_found"


def test_planning_on_an_archived_project_is_refused():
    archived = [("ProjectStatusChanged", dict(project_id=PID, from_status=a, to_status=b, reason=None,
                                              effective_on="2026-02-01"))
                for a, b in (("active", "completed"), ("completed", "archived"))]
    project = given(Project, PID, created(), member(), milestone(), *archived)
    for attempt in (lambda: project.add_phase(P1, "x"), lambda: project.add_milestone("m2", "x", "2026-05-01", EMP),
                    lambda: project.record_status_report("r1", "2026-W10", "green", "", [], MANAGER)):
        with pytest.raises(RuleViolation):
            attempt()
    project.check_milestone(M1, "2026-03-25")  # and no notices
    assert recorded(project) == []


# -- status reports -------------------------------------------------------------------------
def test_status_report():
    project = given(Project, PID, created())
    risks = [{"description": "Late steel", "impact": "high", "likelihood": "medium"}]
    project.record_status_report("r1", "2026-W10", "amber", "Piling slips a week.", risks, MANAGER)
    project.record_status_report("r1", "2026-W10", "amber", "Piling slips a week.", risks, MANAGER)  # a retry
    assert recorded(project) == [("StatusReportRecorded", dict(
        project_id=PID, report_id="r1", week="2026-W10", rag="amber", summary="Piling slips a week.", risks=risks,
        author_id=MANAGER))]
    assert project.status_reports[0]["rag"] == "amber"
    assert_valid(project)
    with pytest.raises(ValidationError):
        project.record_status_report("r2", "2026-W10", "blue", "", [], MANAGER)


# -- phase order, over random additions and moves ----------------------------------------------------
STEPS = st.lists(st.tuples(st.sampled_from(["add", "move"]), st.integers(0, 8), st.integers(0, 8)), max_size=12)


@for_all(STEPS)
def test_phase_positions_stay_the_order_of_a_list_after_any_additions_and_moves(steps):
    """The phases' positions are always 0..n-1, in the order a plain list gets from the same inserts and moves,
    and rebuilding from the recorded events gives the same order."""
    project, model = given(Project, PID, created()), []
    for n, (kind, a, b) in enumerate(steps):
        if kind == "add":
            at = a % (len(model) + 1)
            project.add_phase(f"p{n}", f"Phase {n}", position=at)
            model.insert(at, f"p{n}")
        elif model:
            moved = model[a % len(model)]
            to = b % len(model)
            project.update_phase(moved, {"position": to})
            model.remove(moved)
            model.insert(to, moved)
    assert [p["id"] for p in project.phase_list()] == model
    assert [p["position"] for p in project.phase_list()] == list(range(len(model)))
    rebuilt = given(Project, PID, created(), *recorded(project))
    assert rebuilt.phase_list() == project.phase_list()
    assert_valid(project)
