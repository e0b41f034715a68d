"""What a reader of a project may see of it (``access.as_seen_by``): pure, no I/O."""
from services.project import access
from services.project.domain import Project
from shared.identity import Identity
from shared.testing import given


def a_project_with_money():
    """Given a project of manager "m" with a budget and a rate, and two members with their own rates."""
    return given(Project, "p1",
        ("ProjectCreated", dict(project_id="p1", name="Quay", code="Q", manager_id="m", customer=None, starts_on=None,
                                ends_on=None, billable=True, budget_hours=10, budget_amount="9000.00",
                                currency="NOK", hourly_rate="900.00")),
        ("MemberAssigned", dict(project_id="p1", project_code="Q", project_name="Quay", employee_id="e1",
                                role="member", hourly_rate="800.00")),
        ("MemberAssigned", dict(project_id="p1", project_code="Q", project_name="Quay", employee_id="e2",
                                role="member", hourly_rate="1200.00")),
    ).to_dict()


def seen_by(subject, role, answer):
    return access.as_seen_by(Identity(token_id="t", subject=subject, role=role), "m", answer)


def test_an_admin_and_the_manager_see_it_whole():
    answer = a_project_with_money()
    assert seen_by("a", "admin", answer) == answer
    assert seen_by("m", "manager", answer) == answer


def test_a_member_sees_no_money_but_their_own_rate():
    answer = a_project_with_money()
    for subject, role in (("e1", "employee"), ("e1", "manager")):  # a manager who is only a member alike
        seen = seen_by(subject, role, answer)
        assert "budget_amount" not in seen and "hourly_rate" not in seen
        assert seen["budget"] == {"hours": 10, "currency": "NOK", "thresholds_reached": []}
        assert seen["members"] == [{"employee_id": "e1", "role": "member", "hourly_rate": "800.00"},
                                   {"employee_id": "e2", "role": "member"}]
        assert {k: v for k, v in seen.items() if k not in ("budget", "members")} == {
            k: v for k, v in answer.items() if k not in ("budget", "members", "budget_amount", "hourly_rate")}


def test_a_summary_loses_its_money_alike():
    summary = {"id": "p1", "manager_id": "m", "budget_hours": 10, "budget_amount": "9000.00", "currency": "NOK",
               "hourly_rate": "900.00"}
    assert seen_by("e1", "employee", summary) == {"id": "p1", "manager_id": "m", "budget_hours": 10,
                                                  "currency": "NOK"}
