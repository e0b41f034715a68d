"""The worked example of docs/kit.md, examples/expenses: its domain given/when/then, the service run in a real
nameko container on the real broker with a stand-in project service, and the doc's copy of every file."""
import uuid
from pathlib import Path

import pytest

from examples.expenses.domain import Expense
from examples.expenses.service import ExpensesService
from shared.errors import Forbidden, RuleViolation
from shared.testing import fake_source, given, issue_token, recorded, rpc_proxy, running, service_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "expenses"
EMPLOYEE, MANAGER, OTHER = "employee-1", "manager-1", "manager-2"
CLAIMED = ("ExpenseClaimed", {"expense_id": "x1", "project_id": "p1", "employee_id": EMPLOYEE, "amount": "120.00",
                              "note": "train"})


# -- the domain: given events, when a command, then what it recorded ------------------------------------------
def test_a_claim_records_who_claimed_what_on_which_project():
    expense = given(Expense, "x1")
    expense.claim(EMPLOYEE, "p1", "120.00", "train")
    assert recorded(expense) == [CLAIMED]


def test_an_approval_records_the_approver_once():
    expense = given(Expense, "x1", CLAIMED)
    expense.approve(MANAGER)
    assert recorded(expense) == [("ExpenseApproved", {"expense_id": "x1", "project_id": "p1",
                                                      "approver_id": MANAGER})]
    with pytest.raises(RuleViolation, match="approved already"):
        given(Expense, "x1", CLAIMED, *recorded(expense)).approve(OTHER)


def test_nobody_approves_their_own_expense():
    with pytest.raises(Forbidden) as refused:
        given(Expense, "x1", CLAIMED).approve(EMPLOYEE)
    assert refused.value.code == "auth.self_approval"


# -- the service --------------------------------------------------------------------------------------------
FakeProject = fake_source("project")


@pytest.fixture(scope="module")
def env(amqp_uri, tmp_path_factory):
    config = service_config(amqp_uri, tmp_path_factory.mktemp("expenses"))
    with running(config, ExpensesService, FakeProject), rpc_proxy(config) as admin:
        yield config, admin


def as_person(config, subject, role):
    return rpc_proxy(config, token=issue_token(config, subject, role))


def test_an_expense_is_claimed_on_a_known_project_and_approved_by_its_manager(env):
    config, admin = env
    project_id = str(uuid.uuid4())
    admin.project.emit(stream=f"project-{project_id}", type="ProjectCreated", data={
        "project_id": project_id, "name": "Harbour", "code": "HRB", "manager_id": MANAGER, "customer": None,
        "starts_on": None, "ends_on": None, "billable": True, "budget_hours": None, "budget_amount": None,
        "currency": "NOK", "hourly_rate": None})

    with as_person(config, EMPLOYEE, "employee") as employee:
        unknown = str(uuid.uuid4())
        with pytest.raises(RuleViolation) as refused:
            employee.expenses.claim_expense(project_id=unknown, amount="10", command_id=f"claim-{unknown}")
        assert refused.value.code == "expense.project_unknown"
        # the project is known through the feed even before its AMQP event arrives (ensure pulls it)
        claim = employee.expenses.claim_expense(project_id=project_id, amount="120", note="train",
                                                command_id=f"claim-{project_id}")
        again = employee.expenses.claim_expense(project_id=project_id, amount="120", note="train",
                                                command_id=f"claim-{project_id}")
        assert again == claim  # a retry returns the first result

    with as_person(config, OTHER, "manager") as other:
        with pytest.raises(Forbidden) as refused:
            other.expenses.approve_expense(expense_id=claim["expense_id"])
        assert refused.value.code == "auth.not_manager"
    with as_person(config, MANAGER, "manager") as manager:
        approved = manager.expenses.approve_expense(expense_id=claim["expense_id"])
        assert approved["approved_by"] == MANAGER
        listed = manager.expenses.project_expenses(project_id=project_id, min_position=approved["position"])
    assert listed == [{"expense_id": claim["expense_id"], "project_id": project_id, "employee_id": EMPLOYEE,
                       "amount": "120.00", "note": "train", "approved_by": MANAGER}]


# -- the doc ------------------------------------------------------------------------------------------------
def test_docs_kit_shows_every_file_of_the_example_as_it_is():
    doc = (ROOT / "docs" / "kit.md").read_text()
    files = sorted(path for path in EXAMPLE.glob("*.py") if path.name != "__init__.py")
    assert [path.name for path in files] == ["domain.py", "events.py", "handlers.py", "projections.py",
                                             "schemas.py", "service.py"]
    for path in files:
        assert f"`examples/expenses/{path.name}`:\n\n```python\n{path.read_text()}```" in doc, path.name
    lines = sum(len(path.read_text().splitlines()) for path in files)
    assert f"It is the whole service, {lines} lines in six files" in doc
