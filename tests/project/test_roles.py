"""Who may call each RPC of the project service: every RPC x every kind of caller, as a table, through a real
container and RabbitMQ (one platform for the module). A refusal is ``Forbidden`` (or ``Unauthenticated``) with its
code and appends nothing; an allowed command records the verified caller as its actor."""
import contextlib
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import Forbidden, RuleViolation, Unauthenticated
from shared.testing import as_caller

# Who calls, relative to the project under test (its manager M, members "member_manager" and "member").
CALLERS = ("admin", "manager", "other_manager", "member_manager", "member", "other_employee", "service", "nobody")
ROLES = {"admin": "admin", "manager": "manager", "other_manager": "manager", "member_manager": "manager",
         "member": "employee", "other_employee": "employee", "service": "service"}

OK = "allowed"
SEES, HIDDEN = "lists it", "does not list it"  # list_projects filters, it does not refuse
ROLE, NOT_MANAGER, MISSING = "auth.role", "auth.not_manager", "auth.missing"
MANAGING = (OK, OK, NOT_MANAGER, NOT_MANAGER, ROLE, ROLE, ROLE, MISSING)
PLATFORM = (OK, ROLE, ROLE, ROLE, ROLE, ROLE, OK, MISSING)
READING = (OK, OK, NOT_MANAGER, OK, OK, NOT_MANAGER, ROLE, MISSING)  # as get_project
ADMINS = (OK, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, MISSING)
READERS = (OK, OK, OK, OK, ROLE, ROLE, ROLE, MISSING)  # managers read clients; profitability of their projects

TABLE = {
    #                  admin  manager  other_manager  member_manager  member  other_employee  service  nobody
    "create_project": (OK, OK, NOT_MANAGER, NOT_MANAGER, ROLE, ROLE, ROLE, MISSING),  # manager_id = the manager
    "update_project": MANAGING,
    "change_manager": MANAGING,  # update_project(manager_id=...)
    "add_task": MANAGING,
    "close_task": MANAGING,
    "assign_member": MANAGING,
    "remove_member": MANAGING,
    "change_status": MANAGING,
    "delegate_approvals": MANAGING,
    "get_project": (OK, OK, NOT_MANAGER, OK, OK, NOT_MANAGER, ROLE, MISSING),
    "list_projects": (SEES, SEES, HIDDEN, SEES, SEES, HIDDEN, ROLE, MISSING),
    "project_progress": MANAGING,
    "history": MANAGING,
    "project_forecast": MANAGING,  # as project_progress: the figures include money and the others' rates
    "project_burn": MANAGING,
    "project_health": MANAGING,
    "events_since": PLATFORM,
    "status": PLATFORM,
    # the plan (issue 17): the manager and admins change it, members read it
    "add_phase": MANAGING,
    "update_phase": MANAGING,
    "list_phases": READING,
    "update_task": MANAGING,
    "reopen_task": MANAGING,
    "list_tasks": READING,
    "add_milestone": MANAGING,
    "update_milestone": MANAGING,
    "complete_milestone": MANAGING,
    "reopen_milestone": MANAGING,
    "list_milestones": READING,
    "check_milestones": (OK, ROLE, ROLE, ROLE, ROLE, ROLE, ROLE, MISSING),  # an operator's
    "record_status_report": MANAGING,
    "status_reports": READING,
    "create_client": ADMINS,
    "update_client": ADMINS,
    "set_client_rate": ADMINS,
    "get_client": READERS,
    "list_clients": READERS,
    "set_rate": MANAGING,
    "profitability": READERS,
}
COMMANDS = {"create_project", "update_project", "change_manager", "add_task", "close_task",
            "assign_member", "remove_member", "change_status", "delegate_approvals", "add_phase",
            "update_phase", "update_task", "reopen_task", "add_milestone", "update_milestone",
            "complete_milestone", "reopen_milestone", "record_status_report", "create_client",
            "update_client", "set_client_rate", "set_rate"}


def call_of(rpc_name, project, people):
    """(RPC method, arguments) of one row of the table, on ``project``."""
    pid = project["id"]
    return {
        "create_project": ("create_project", dict(name="Quay", code=f"Q{uuid.uuid4().hex[:8]}",
                                                  manager_id=people["manager"])),
        "update_project": ("update_project", dict(project_id=pid, customer="Port AS")),
        "change_manager": ("update_project", dict(project_id=pid, manager_id=people["other_manager"])),
        "add_task": ("add_task", dict(project_id=pid, name="Piling")),
        "close_task": ("close_task", dict(project_id=pid, task_id=project["tasks"][0]["id"])),
        "assign_member": ("assign_member", dict(project_id=pid, employee_id=people["other_employee"])),
        "remove_member": ("remove_member", dict(project_id=pid, employee_id=people["member"])),
        "change_status": ("change_status", dict(project_id=pid, status="on_hold")),
        "delegate_approvals": ("delegate_approvals", dict(project_id=pid, delegate_id=people["member_manager"],
                                                          from_date="2031-07-01", to_date="2031-07-31")),
        "get_project": ("get_project", dict(project_id=pid)),
        "list_projects": ("list_projects", dict(min_position=project["position"])),
        "project_progress": ("project_progress", dict(project_id=pid)),
        "history": ("history", dict(project_id=pid)),
        "project_forecast": ("project_forecast", dict(project_id=pid)),
        "project_burn": ("project_burn", dict(project_id=pid, interval="month")),
        "project_health": ("project_health", dict(project_id=pid)),
        "events_since": ("events_since", dict(position=0, limit=1)),
        "status": ("status", {}),
        "add_phase": ("add_phase", dict(project_id=pid, name="Build")),
        "update_phase": ("update_phase", dict(project_id=pid, phase_id=project["phases"][0]["id"], name="Drawing")),
        "list_phases": ("list_phases", dict(project_id=pid)),
        "update_task": ("update_task", dict(project_id=pid, task_id=project["tasks"][0]["id"], status="doing")),
        "reopen_task": ("reopen_task", dict(project_id=pid, task_id=project["tasks"][1]["id"])),
        "list_tasks": ("list_tasks", dict(project_id=pid)),
        "add_milestone": ("add_milestone", dict(project_id=pid, name="Roof", due_on="2031-08-01",
                                                owner_id=people["member"])),
        "update_milestone": ("update_milestone", dict(project_id=pid, milestone_id=project["milestones"]["open"],
                                                      name="Walls")),
        "complete_milestone": ("complete_milestone", dict(project_id=pid,
                                                          milestone_id=project["milestones"]["open"])),
        "reopen_milestone": ("reopen_milestone", dict(project_id=pid, milestone_id=project["milestones"]["done"])),
        "list_milestones": ("list_milestones", dict(project_id=pid)),
        "check_milestones": ("check_milestones", dict(today="2031-07-01")),
        "record_status_report": ("record_status_report", dict(project_id=pid, week="2031-W27", rag="green")),
        "status_reports": ("status_reports", dict(project_id=pid)),
        "create_client": ("create_client", dict(name=f"Client {uuid.uuid4().hex[:8]}")),
        "update_client": ("update_client", dict(client_id=project["client_id"], org_number=uuid.uuid4().hex[:9])),
        "set_client_rate": ("set_client_rate", dict(client_id=project["client_id"], rate="10.00",
                                                    effective_from=f"2030-01-{uuid.uuid4().int % 28 + 1:02d}")),
        "get_client": ("get_client", dict(client_id=project["client_id"])),
        "list_clients": ("list_clients", {}),
        "set_rate": ("set_rate", dict(project_id=pid, scope="member", subject_id=people["member"], rate="10.00",
                                      effective_from="2030-01-01")),
        "profitability": ("profitability", dict(from_date="2030-01-01", to_date="2030-12-31")),
    }[rpc_name]


@pytest.fixture(scope="module")
def people(env):
    """One resource per kind of caller (the service's is a service name)."""
    ids = {who: env.resource() for who in CALLERS if who not in ("admin", "service", "nobody")}
    return ids | {"admin": "admin-of-tests", "service": "timesheet"}


@pytest.fixture(scope="module")
def proxies(env, people):
    """One open RPC proxy per caller, each presenting that caller's token (``nobody``: none)."""
    with contextlib.ExitStack() as stack:
        proxies = {"nobody": stack.enter_context(ClusterRpcProxy(env.config, timeout=30))}
        for who, role in ROLES.items():
            proxies[who] = stack.enter_context(
                ClusterRpcProxy(env.config, timeout=30, context_data=as_caller(env.config, people[who], role)))
        yield proxies


_CLIENT = {}  # one client for the module's projects


def project_of(env, people):
    """A fresh project managed by ``manager``, with ``member_manager`` and ``member`` on it and one task."""
    client_id = _CLIENT.get("id") or _CLIENT.setdefault("id", env.rpc.project.create_client(name="Roles AS")["id"])
    project = env.project(manager_id=people["manager"], client_id=client_id)
    for who in ("member_manager", "member"):
        env.rpc.project.assign_member(project_id=project["id"], employee_id=people[who])
    task = env.rpc.project.add_task(project_id=project["id"], name="Survey")
    closed = env.rpc.project.add_task(project_id=project["id"], name="Closed")
    env.rpc.project.close_task(project_id=project["id"], task_id=closed["id"])
    env.rpc.project.add_phase(project_id=project["id"], name="Design")
    milestones = {which: env.rpc.project.add_milestone(project_id=project["id"], name=which, due_on="2031-09-01",
                                                       owner_id=people["member"])["id"] for which in ("open", "done")}
    done = env.rpc.project.complete_milestone(project_id=project["id"], milestone_id=milestones["done"])
    return {**env.rpc.project.get_project(project_id=project["id"]), "position": done["position"],
            "task_position": task["position"], "milestones": milestones}


def head(env):
    """The head of what the service itself appends (projects and code reservations), not the facts it receives."""
    return env.kit().store.head_position(["project", "projectcode", "client"])


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("rpc_name", list(TABLE))
def test_role_table(env, people, proxies, rpc_name, who):
    expected = TABLE[rpc_name][CALLERS.index(who)]
    project = project_of(env, people)
    method, args = call_of(rpc_name, project, people)
    before = head(env)
    call = getattr(proxies[who].project, method)

    if expected in (OK, SEES, HIDDEN):
        result = call(**args)
        if expected != OK:
            assert (project["id"] in {p["id"] for p in result}) == (expected == SEES)
        if rpc_name in COMMANDS:
            [appended] = env.kit().store.read_all(before, ["project", "client"])[-1:]
            actor = f"service:{people[who]}" if who == "service" else people[who]
            assert (appended.metadata["actor"], appended.metadata["actor_role"]) == (actor, ROLES[who])
        return

    with pytest.raises(Unauthenticated if expected == MISSING else Forbidden) as refused:
        call(**args)
    assert refused.value.code == expected
    assert head(env) == before  # a refusal appends nothing (not even a project code's reservation)


def test_the_table_covers_every_rpc_of_the_service():
    from services.project.service import ProjectService

    rpcs = {name for name in dir(ProjectService) if hasattr(getattr(ProjectService, name), "nameko_entrypoints")}
    assert rpcs - {"on_resource_event", "on_timesheet_event", "milestone_timer"} == set(TABLE) - {"change_manager"}


def test_one_managers_token_on_another_managers_project_changes_nothing(env, people, proxies):
    theirs = project_of(env, people)  # managed by "manager"
    mine = env.project(manager_id=people["other_manager"])
    as_other = proxies["other_manager"].project
    before = head(env)
    for method, args in (("update_project", dict(manager_id=people["other_manager"])),
                         ("update_project", dict(budget_hours=1)),
                         ("assign_member", dict(employee_id=people["other_manager"], hourly_rate="1.00")),
                         ("remove_member", dict(employee_id=people["member"])),
                         ("change_status", dict(status="completed")),
                         ("close_task", dict(task_id=theirs["tasks"][0]["id"]))):
        with pytest.raises(Forbidden) as refused:
            getattr(as_other, method)(project_id=theirs["id"], **args)
        assert refused.value.code == "auth.not_manager", method
    assert head(env) == before
    assert env.rpc.project.get_project(project_id=theirs["id"])["version"] == theirs["version"]

    # Each sees their own projects only; naming someone else's in a filter shows nothing more.
    listed = {p["id"] for p in as_other.list_projects(min_position=theirs["position"])}
    assert mine["id"] in listed and theirs["id"] not in listed
    assert as_other.list_projects(manager_id=people["manager"]) == []
    as_member, as_other_employee = proxies["member"].project, proxies["other_employee"].project
    assert theirs["id"] in {p["id"] for p in as_member.list_projects(member_id=people["member"],
                                                                      min_position=theirs["position"])}
    assert theirs["id"] not in {p["id"] for p in as_other_employee.list_projects(member_id=people["member"],
                                                                                  min_position=theirs["position"])}


def test_a_manager_creates_projects_only_for_themselves(env, people, proxies):
    before = head(env)
    with pytest.raises(Forbidden) as refused:
        proxies["manager"].project.create_project(name="Not mine", code="NOT-MINE",
                                                  manager_id=people["other_manager"])
    assert refused.value.code == "auth.not_manager"
    assert head(env) == before
    with pytest.raises(Forbidden):  # nor takes the code for later
        proxies["manager"].project.create_project(name="Not mine", code="NOT-MINE", manager_id=people["member"])
    assert env.project(code="not-mine")["code"] == "not-mine"


def test_a_retried_command_id_answers_only_who_may_send_it(env, people, proxies):
    project = project_of(env, people)
    task = proxies["manager"].project.add_task(project_id=project["id"], name="Piling", command_id="roles-retry")
    before = head(env)
    with pytest.raises(Forbidden) as refused:
        proxies["other_manager"].project.add_task(project_id=project["id"], name="Piling", command_id="roles-retry")
    assert refused.value.code == "auth.not_manager"
    assert head(env) == before
    again = proxies["manager"].project.add_task(project_id=project["id"], name="Piling", command_id="roles-retry")
    assert again == task


def test_a_handover_moves_the_rights_and_the_history_shows_it(env, people, proxies):
    project = project_of(env, people)
    old, new = people["manager"], people["member_manager"]
    as_old, as_new = proxies["manager"].project, proxies["member_manager"].project
    with pytest.raises(Forbidden):  # not theirs yet
        as_new.add_task(project_id=project["id"], name="Before the handover")

    handed = as_old.update_project(project_id=project["id"], manager_id=new)
    assert handed["manager_id"] == new
    trail = as_new.history(project_id=project["id"])
    assert trail[-1]["changes"] == [{"field": "manager_id", "old": old, "new": new}]
    assert trail[-1]["actor"] == old

    assert as_new.add_task(project_id=project["id"], name="After the handover")["name"] == "After the handover"
    before = head(env)
    with pytest.raises(Forbidden) as refused:
        as_old.add_task(project_id=project["id"], name="No longer mine")
    assert refused.value.code == "auth.not_manager"
    assert head(env) == before
    listed = {p["id"]: p["manager_id"] for p in as_new.list_projects(min_position=handed["position"])}
    assert listed[project["id"]] == new
    assert project["id"] not in {p["id"] for p in as_old.list_projects(min_position=handed["position"])}


def test_a_project_is_handed_over_only_to_an_active_resource(env, people):
    project = project_of(env, people)
    gone = env.resource(active=False)
    before = head(env)
    for manager_id, code in ((str(uuid.uuid4()), "project.manager_unknown"), (gone, "project.manager_inactive")):
        with pytest.raises(RuleViolation) as refused:
            env.rpc.project.update_project(project_id=project["id"], manager_id=manager_id)
        assert refused.value.code == code
    assert head(env) == before


@pytest.mark.parametrize("who, method", [
    ("member", "update_project"), ("member", "history"), ("service", "get_project"), ("service", "add_task")])
def test_a_role_that_may_never_call_learns_nothing_of_which_projects_exist(env, proxies, who, method):
    args = {"update_project": {"customer": "x"}, "add_task": {"name": "x"}}.get(method, {})
    with pytest.raises(Forbidden) as refused:
        getattr(proxies[who].project, method)(project_id=str(uuid.uuid4()), **args)
    assert refused.value.code == "auth.role"  # not NotFound: the same answer as for a project that exists


def test_only_an_admin_and_the_manager_see_the_money_a_member_sees_their_own_rate(env, people, proxies):
    """Issue 11's role table: a member reads the project, but the others' rates and the budget's money are for
    its manager and admins. The same on ``as_of`` reads and in ``list_projects``."""
    project = env.project(manager_id=people["manager"], budget_hours=100, budget_amount="90000.00",
                          hourly_rate="1100.00")
    for who, rate in (("member_manager", "1400.00"), ("member", "900.00")):
        env.rpc.project.assign_member(project_id=project["id"], employee_id=people[who], hourly_rate=rate)
    full = env.rpc.project.get_project(project_id=project["id"])
    rates = {m["employee_id"]: m["hourly_rate"] for m in full["members"]}
    assert rates == {people["member_manager"]: "1400.00", people["member"]: "900.00"}
    assert (full["budget_amount"], full["hourly_rate"], full["budget"]["amount"]) == ("90000.00", "1100.00",
                                                                                       "90000.00")
    for who in ("admin", "manager", "member_manager", "member"):
        call = proxies[who].project
        seen = call.get_project(project_id=project["id"])
        full_as_of = env.rpc.project.get_project(project_id=project["id"], as_of="2999-01-01T00:00:00")
        as_of = call.get_project(project_id=project["id"], as_of="2999-01-01T00:00:00")
        [summary] = [p for p in call.list_projects(min_position=project["position"]) if p["id"] == project["id"]]
        [full_summary] = [p for p in env.rpc.project.list_projects() if p["id"] == project["id"]]
        if who in ("admin", "manager"):
            assert seen == full and as_of == full_as_of and summary == full_summary, who
            continue
        money = ("budget_amount", "hourly_rate")
        assert seen == {**{k: v for k, v in full.items() if k not in money},
                        "budget": {k: v for k, v in full["budget"].items() if k != "amount"},
                        "members": [m if m["employee_id"] == people[who] else
                                    {"employee_id": m["employee_id"], "role": m["role"]} for m in full["members"]]}, who
        assert as_of == seen, who
        assert summary == {k: v for k, v in full_summary.items() if k not in money}, who
    with pytest.raises(Forbidden):  # another manager reads nothing of it
        proxies["other_manager"].project.get_project(project_id=project["id"])
