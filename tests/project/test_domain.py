"""Given/when/then on events: the Project aggregate's rules, with no I/O."""
import pytest

from services.project.domain import Project
from services.project.events import events as registry
from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.testing import given, recorded, recorded_types

PID = "11111111-1111-1111-1111-111111111111"
MANAGER = "22222222-2222-2222-2222-222222222222"
EMP = "33333333-3333-3333-3333-333333333333"
TASK = "44444444-4444-4444-4444-444444444444"


def created(**overrides):
    data = dict(project_id=PID, name="Harbour", code="HB-1", manager_id=MANAGER, customer="Port AS",
                starts_on="2026-01-01", ends_on="2026-12-31", billable=True, budget_hours=100,
                budget_amount="150000.00", currency="NOK", hourly_rate="1200.00")
    data.update(overrides)
    return ("ProjectCreated", data)


def status(frm, to):
    return ("ProjectStatusChanged", dict(project_id=PID, from_status=frm, to_status=to, reason=None,
                                         effective_on="2026-02-01"))


def reached(threshold, used=50, budget=100):
    return ("BudgetThresholdReached", dict(project_id=PID, project_code="HB-1", manager_id=MANAGER,
                                           threshold=threshold, used_hours=used, budget_hours=budget))


def assert_valid(project):
    for event_type, data in recorded(project):
        registry.validate(event_type, data)


# -- create ---------------------------------------------------------------------------------
def test_create_records_project_created_with_hours_as_numbers():
    project = given(Project, PID)
    project.create(name="Harbour", code="HB-1", manager_id=MANAGER, budget_centi=12_550, budget_amount="10.00")
    [(event_type, data)] = recorded(project)
    assert event_type == "ProjectCreated"
    assert data["budget_hours"] == 125.5 and data["currency"] == "NOK" and data["billable"] is True
    assert project.status == "active" and project.budget_centi == 12_550
    assert_valid(project)


def test_create_twice_is_a_conflict():
    with pytest.raises(Conflict) as err:
        given(Project, PID, created()).create(name="x", code="X", manager_id=MANAGER)
    assert err.value.code == "project.exists"


def test_create_refuses_ends_before_starts():
    with pytest.raises(ValidationError) as err:
        given(Project, PID).create(name="x", code="X", manager_id=MANAGER, starts_on="2026-02-01",
                                   ends_on="2026-01-01")
    assert "ends_on" in err.value.errors


# -- update ---------------------------------------------------------------------------------
def test_update_records_only_changed_fields_with_old_values():
    project = given(Project, PID, created())
    project.update({"name": "Harbour II", "customer": "Port AS", "budget_hours": 20_000})
    assert recorded(project) == [("ProjectUpdated", {
        "project_id": PID, "changes": {"name": "Harbour II", "budget_hours": 200},
        "previous": {"name": "Harbour", "budget_hours": 100},
    })]
    assert project.budget_centi == 20_000 and project.name == "Harbour II"
    assert_valid(project)


def test_changing_the_manager_records_the_old_and_the_new_one():
    project = given(Project, PID, created())
    project.update({"manager_id": EMP})
    assert recorded(project) == [("ProjectUpdated", {
        "project_id": PID, "changes": {"manager_id": EMP}, "previous": {"manager_id": MANAGER}})]
    assert project.manager_id == EMP
    assert_valid(project)


def test_update_without_real_changes_records_nothing():
    project = given(Project, PID, created())
    project.update({"name": "Harbour"})
    assert recorded(project) == []


def test_update_refuses_unknown_field_and_dates_out_of_order():
    project = given(Project, PID, created())
    with pytest.raises(ValidationError) as err:
        project.update({"code": "NEW"})
    assert "code" in err.value.errors
    with pytest.raises(ValidationError) as err:
        project.update({"ends_on": "2025-12-31"})
    assert "ends_on" in err.value.errors
    assert recorded(project) == []


def test_update_unknown_project_is_not_found():
    with pytest.raises(NotFound) as err:
        given(Project, PID).update({"name": "x"})
    assert err.value.code == "project.not_found"


def test_archived_project_takes_no_changes():
    project = given(Project, PID, created(), status("active", "completed"), status("completed", "archived"))
    for attempt in (lambda: project.update({"name": "x"}), lambda: project.add_task(TASK, "Design"),
                    lambda: project.assign_member(EMP)):
        with pytest.raises(RuleViolation) as err:
            attempt()
        assert err.value.code == "project.archived"


# -- tasks ----------------------------------------------------------------------------------
def test_add_task_and_close_it():
    project = given(Project, PID, created())
    project.add_task(TASK, "Design", 1_050, None)
    project.close_task(TASK)
    assert recorded(project) == [
        ("TaskAdded", {"project_id": PID, "task_id": TASK, "name": "Design", "estimate_hours": 10.5, "billable": None,
                       "phase_id": None, "assignee_id": None, "due_on": None, "status": "todo"}),
        ("TaskClosed", {"project_id": PID, "task_id": TASK}),
    ]
    assert not project.takes_hours(TASK)
    assert project.to_dict()["tasks"][0] == {"id": TASK, "name": "Design", "status": "done",
                                             "estimate_hours": 10.5, "billable": True, "phase_id": None,
                                             "assignee_id": None, "due_on": None}
    assert_valid(project)


def test_open_task_on_active_project_takes_hours():
    project = given(Project, PID, created(), ("TaskAdded", dict(project_id=PID, task_id=TASK, name="Design",
                                                                estimate_hours=None, billable=False)))
    assert project.takes_hours(TASK)
    assert project.to_dict()["tasks"][0]["billable"] is False


def test_task_names_are_unique_in_a_project():
    project = given(Project, PID, created(), ("TaskAdded", dict(project_id=PID, task_id=TASK, name="Design",
                                                                estimate_hours=None, billable=None)))
    with pytest.raises(Conflict) as err:
        project.add_task("55555555-5555-5555-5555-555555555555", "design")
    assert err.value.code == "project.task_name_taken"


def test_close_unknown_task_is_not_found():
    with pytest.raises(NotFound) as err:
        given(Project, PID, created()).close_task(TASK)
    assert err.value.code == "project.task_not_found"


# -- members --------------------------------------------------------------------------------
def test_assign_member_carries_project_code_and_name_and_rate_wins():
    project = given(Project, PID, created())
    project.assign_member(EMP, "lead", "1500.00")
    assert recorded(project) == [("MemberAssigned", {
        "project_id": PID, "project_code": "HB-1", "project_name": "Harbour", "employee_id": EMP,
        "role": "lead", "hourly_rate": "1500.00"})]
    assert project.rate_for(EMP) == "1500.00" and project.rate_for(MANAGER) == "1200.00"
    assert_valid(project)


def test_assign_same_member_again_records_nothing_and_remove():
    project = given(Project, PID, created(), ("MemberAssigned", dict(
        project_id=PID, project_code="HB-1", project_name="Harbour", employee_id=EMP, role="member",
        hourly_rate=None)))
    project.assign_member(EMP, "member", None)
    assert recorded(project) == []
    project.remove_member(EMP)
    assert recorded_types(project) == ["MemberRemoved"] and project.members == {}


def test_remove_non_member_is_not_found():
    with pytest.raises(NotFound) as err:
        given(Project, PID, created()).remove_member(EMP)
    assert err.value.code == "project.member_not_found"


# -- status ---------------------------------------------------------------------------------
ALLOWED = [("active", "on_hold"), ("on_hold", "active"), ("active", "completed"), ("on_hold", "completed"),
           ("completed", "active"), ("completed", "archived")]
PATHS = {"active": [], "on_hold": [status("active", "on_hold")], "completed": [status("active", "completed")],
         "archived": [status("active", "completed"), status("completed", "archived")]}


@pytest.mark.parametrize("frm,to", ALLOWED)
def test_allowed_transitions(frm, to):
    project = given(Project, PID, created(), *PATHS[frm])
    project.change_status(to, "because", "2026-03-01")
    assert recorded(project) == [("ProjectStatusChanged", {"project_id": PID, "from_status": frm, "to_status": to,
                                                           "reason": "because", "effective_on": "2026-03-01"})]
    assert project.status == to
    assert_valid(project)


@pytest.mark.parametrize("frm,to", [(f, t) for f in PATHS for t in PATHS if (f, t) not in ALLOWED])
def test_other_transitions_are_refused(frm, to):
    project = given(Project, PID, created(), *PATHS[frm])
    with pytest.raises(RuleViolation) as err:
        project.change_status(to)
    assert err.value.code == "project.invalid_transition"
    assert recorded(project) == []


def test_only_active_projects_take_hours():
    assert given(Project, PID, created()).takes_hours()
    assert not given(Project, PID, created(), status("active", "on_hold")).takes_hours()
    assert not given(Project, PID, created(), status("active", "completed")).takes_hours()


# -- budget thresholds ----------------------------------------------------------------------
def thresholds(project):
    return [data["threshold"] for event_type, data in recorded(project) if event_type == "BudgetThresholdReached"]


def test_threshold_reached_once():
    project = given(Project, PID, created())
    project.note_hours(4_999)
    assert recorded(project) == []
    project.note_hours(5_000)
    assert recorded(project) == [("BudgetThresholdReached", {
        "project_id": PID, "project_code": "HB-1", "manager_id": MANAGER, "threshold": 50, "budget": "hours",
        "used_hours": 50, "budget_hours": 100, "used_amount": None, "budget_amount": None})]
    project.note_hours(6_000)
    assert thresholds(project) == [50]
    assert_valid(project)


def test_one_big_entry_crosses_several_thresholds():
    project = given(Project, PID, created())
    project.note_hours(10_050)
    assert thresholds(project) == [50, 80, 100]


def test_threshold_rearms_when_hours_drop_and_is_recorded_again():
    project = given(Project, PID, created(), reached(50), reached(80, used=85))
    project.note_hours(7_000)
    assert recorded(project) == [("BudgetThresholdCleared", {
        "project_id": PID, "project_code": "HB-1", "manager_id": MANAGER, "threshold": 80, "budget": "hours",
        "used_hours": 70, "budget_hours": 100, "used_amount": None, "budget_amount": None})]
    project.note_hours(8_000)
    assert thresholds(project) == [80]
    assert_valid(project)


def test_no_thresholds_without_budget():
    project = given(Project, PID, created(budget_hours=None))
    project.note_hours(1_000_000)
    assert recorded(project) == []


def test_removing_the_budget_clears_every_reached_threshold():
    project = given(Project, PID, created(), reached(50), reached(80, used=85))
    project.update({"budget_hours": None})
    project.note_hours(9_000)
    cleared = [(t, d) for t, d in recorded(project) if t == "BudgetThresholdCleared"]
    assert cleared == [("BudgetThresholdCleared", {
        "project_id": PID, "project_code": "HB-1", "manager_id": MANAGER, "threshold": threshold,
        "budget": "hours", "used_hours": 90, "budget_hours": None, "used_amount": None, "budget_amount": None})
        for threshold in (50, 80)]
    assert project.reached == set() and project.to_dict()["budget"]["thresholds_reached"] == []
    assert_valid(project)
    project.note_hours(20_000)  # still no budget: nothing more
    assert len(recorded(project)) == 3


def test_lower_budget_crosses_threshold_for_same_hours():
    project = given(Project, PID, created(), reached(50, used=60))
    project.update({"budget_hours": 7_000})
    project.note_hours(6_000)
    assert thresholds(project) == [80]


# -- approval delegates (issue 11) -------------------------------------------------------------
def test_a_manager_names_a_delegate_approver_for_a_date_range():
    project = given(Project, PID, created())
    project.delegate_approvals(EMP, "2026-07-01", "2026-07-21")
    assert recorded(project) == [("ApprovalsDelegated", dict(project_id=PID, manager_id=MANAGER, delegate_id=EMP,
                                                             from_date="2026-07-01", to_date="2026-07-21"))]
    assert_valid(project)
    assert project.delegations == [recorded(project)[0][1]]
    with pytest.raises(RuleViolation) as err:
        given(Project, PID, created()).delegate_approvals(MANAGER, "2026-07-01", "2026-07-21")
    assert err.value.code == "project.delegate_is_manager"
    with pytest.raises(RuleViolation) as err:
        given(Project, PID, created(), status("active", "completed"), status("completed", "archived")
              ).delegate_approvals(EMP, "2026-07-01", "2026-07-21")
    assert err.value.code == "project.archived"


# -- budget use (project_progress) ------------------------------------------------------------
def member(employee_id, rate):
    return ("MemberAssigned", dict(project_id=PID, project_code="HB-1", project_name="Harbour", employee_id=employee_id,
                                   role="member", hourly_rate=rate))


def figures(**kw):
    return {"logged_centi": 0, "approved_centi": 0, "billable_centi": 0, "approved_billable_centi": 0,
            "revenue_cents": 0, "cost_cents": 0, "approved_revenue_cents": 0, "approved_cost_cents": 0,
            "unpriced_centi": 0, "uncosted_centi": 0} | kw


def test_progress_reports_hours_and_money_against_both_budgets_for_logged_and_approved_hours():
    project = given(Project, PID, created(budget_hours=10, hourly_rate="1000.00"), reached(50))
    got = project.progress(figures(logged_centi=525, approved_centi=325, billable_centi=300,
                                   approved_billable_centi=100, revenue_cents=450000, cost_cents=315000,
                                   approved_revenue_cents=150000, approved_cost_cents=195000, uncosted_centi=25))
    assert got == {
        "project_id": PID, "budget_hours": 10, "logged_hours": 5.25, "approved_hours": 3.25, "billable_hours": 3,
        "remaining_hours": 4.75, "percent_used": 52.5, "budget_amount": "150000.00", "logged_amount": "4500.00",
        "currency": "NOK", "thresholds_reached": [50], "money_thresholds_reached": [],
        "budgets": {"hours": {"budget": 10, "used": 5.25, "remaining": 4.75, "percent": 52.5},
                    "money": {"budget": "150000.00", "used": "4500.00", "remaining": "145500.00", "percent": 3.0}},
        "logged": {"hours": 5.25, "billable_hours": 3, "revenue": "4500.00", "cost": "3150.00", "margin": "1350.00",
                   "margin_percent": 30.0},
        "approved": {"hours": 3.25, "billable_hours": 1, "revenue": "1500.00", "cost": "1950.00",
                     "margin": "-450.00", "margin_percent": -30.0},
        "missing_rates": {"billing_hours": 0, "cost_hours": 0.25},
    }


def test_percent_used_is_rounded_half_up_exactly():
    project = given(Project, PID, created(budget_hours=4))
    assert project.progress(figures(logged_centi=5))["percent_used"] == 1.3  # 1.25 %


def test_progress_without_a_budget_has_no_remainder_or_percentage():
    project = given(Project, PID, created(budget_hours=None, budget_amount=None, hourly_rate=None))
    got = project.progress(figures(logged_centi=150, billable_centi=150, unpriced_centi=150))
    assert got["remaining_hours"] is None and got["percent_used"] is None and got["logged_amount"] == "0.00"
    assert got["budgets"]["money"] == {"budget": None, "used": "0.00", "remaining": None, "percent": None}
    assert got["missing_rates"]["billing_hours"] == 1.5
    assert got["logged_hours"] == 1.5
    assert given(Project, PID, created(budget_hours=0)).progress(figures())["percent_used"] is None


def test_money_thresholds_are_reached_and_cleared_apart_from_the_hours_ones():
    project = given(Project, PID, created(budget_hours=10, budget_amount="10000.00"), reached(50))
    project.note_money(800000)  # 8000.00 of 10000.00
    assert [(t, d["threshold"], d["budget"], d["used_amount"]) for t, d in recorded(project)] == [
        ("BudgetThresholdReached", 50, "money", "8000.00"), ("BudgetThresholdReached", 80, "money", "8000.00")]
    assert project.reached == {50} and project.money_reached == {50, 80}
    project.pending.clear()
    project.note_money(499999)
    assert [(t, d["threshold"]) for t, d in recorded(project)] == [("BudgetThresholdCleared", 50),
                                                                   ("BudgetThresholdCleared", 80)]
    assert project.reached == {50}
    project.pending.clear()
    project.note_hours(500)  # the hours threshold stays reached: nothing
    assert recorded(project) == []


def test_a_project_without_a_money_budget_has_no_money_thresholds():
    project = given(Project, PID, created(budget_amount=None))
    project.note_money(10**9)
    assert recorded(project) == []


# -- code reservations --------------------------------------------------------------------------
def test_a_code_reservation_stored_before_the_kits_reservations_still_reads():
    from services.project.domain import CodeReservation

    creation = {"name": "Cut", "code": "hb-1", "manager_id": MANAGER}
    held = given(CodeReservation, "HB-1", ("ProjectCodeReserved", dict(
        code="hb-1", project_id=PID, command_id="c-1", actor=None, creation=creation)))
    assert held.owner == PID and held.data == {"command_id": "c-1", "creation": creation}
