"""The project service's commands and queries: each one function of the validated arguments (``args``, as its schema
loaded them) and the kit handle (``chronicle``; the verified caller is ``chronicle.caller``). The rules live in
``domain.py`` and ``access.py``; a handler orders the checks, the facts and the one write."""
from __future__ import annotations

import uuid

from shared import reservations
from shared.errors import Conflict, RuleViolation
from shared.handling import derive_id

from . import access, billing
from .domain import CodeReservation, Project, normalise_code
from .projections import project_figures, project_summaries, resource_state, used_centi, used_cents


# -- commands -------------------------------------------------------------------------------------
def create_project(args, chronicle, *, now: float):
    """The code is reserved first (``shared.reservations``): one creation per code, even concurrently."""
    access.require_may_create(chronicle.caller, args["manager_id"])
    if args["currency"] is None:  # the client's currency, else NOK
        args["currency"] = billing.client_currency(chronicle, args["client_id"]) or "NOK"
    # Always a command id: the code reservation names it so a half-done creation can be finished.
    command_id = args.pop("command_id") or f"create-project:{uuid.uuid4()}"
    project_id = derive_id(command_id, "project")
    creation = {k: v for k, v in args.items() if k != "budget_hours"}
    creation["budget_centi"] = args["budget_hours"]
    decided = {}

    def reserve_code():
        key = normalise_code(args["code"])
        if chronicle.load(CodeReservation, key).owner != project_id:
            _require_active_resource(chronicle, args["manager_id"], "manager")
            billing.require_client(chronicle, args["client_id"])
        # Ours already (a retry of a creation cut short after its reservation): finished as first decided,
        # whatever changed since, without checking the manager again.
        held = reservations.reserve(
            chronicle, CodeReservation, key, project_id, command_id=command_id, now=now,
            data={"command_id": command_id, "creation": creation}, holds=lambda held: _finish(chronicle, held),
            taken=Conflict(f"project code {args['code']!r} is already taken", code="project.code_taken"),
        )
        decided.update(held.data["creation"])

    outcome = chronicle.execute(Project, project_id, lambda p: p.create(**decided), command_id=command_id,
                                precheck=reserve_code)
    return _project(outcome)


def _finish(chronicle, held) -> bool:
    """Another creation holds the code. If it never finished (a crash between the two appends), finish it now with
    its own command id, so the code always names a project: the holder holds the code for good."""
    first = held.data
    if not chronicle.load(Project, held.owner).exists:  # finished: its command id answers only its own caller
        chronicle.execute(Project, held.owner, lambda p: p.exists or p.create(**first["creation"]),
                          command_id=first["command_id"])
    return True


def update_project(args, chronicle):
    project = _managed(chronicle, args["project_id"])
    changes = {k: v for k, v in args.items() if k not in ("project_id", "expected_version", "command_id")}
    used, money = [], []

    def facts():
        if changes.get("manager_id", project.manager_id) != project.manager_id:
            _require_active_resource(chronicle, changes["manager_id"], "manager")
        if changes.get("client_id", project.client_id) != project.client_id:
            billing.require_client(chronicle, changes["client_id"])
        if "budget_hours" in changes and changes["budget_hours"] is None:
            used.append(chronicle.query(lambda db: used_centi(db, args["project_id"])))
        if "budget_amount" in changes and changes["budget_amount"] is None:
            money.append(chronicle.query(lambda db: used_cents(db, args["project_id"])))

    def decide(project):
        project.update(changes)
        if used:
            project.note_hours(used[0])  # no budget, no thresholds: the reached ones are cleared at once
        if money:
            project.note_money(money[0])

    return _project(_execute(chronicle, args, decide, expected_version=args["expected_version"], precheck=facts))


def add_task(args, chronicle):
    _managed(chronicle, args["project_id"])
    # The command id is scoped to the project: the same id sent to another project adds another task.
    task_id = derive_id(args["command_id"], f"task/{args['project_id']}")
    outcome = _execute(chronicle, args, lambda p: p.add_task(
        task_id, args["name"], args["estimate_hours"], args["billable"], phase_id=args["phase_id"],
        assignee_id=args["assignee_id"], due_on=args["due_on"]))
    if outcome.replayed and outcome.events:
        task_id = outcome.events[0].data["task_id"]  # the first result, whatever id it was derived as
    return _task(outcome, args["project_id"], task_id)


def assign_member(args, chronicle):
    _managed(chronicle, args["project_id"])
    wanted = {"employee_id": args["employee_id"], "role": args["role"], "hourly_rate": args["hourly_rate"]}
    checked = []

    def decide(project):
        # Assigning the same role and rate again records nothing, so it checks nothing either (a retry of such a
        # no-op has no first event to replay). On the state decided on, so checked once, inside.
        if project.members.get(args["employee_id"]) != wanted and not checked:
            _require_active_resource(chronicle, args["employee_id"], "employee")
            checked.append(True)
        project.assign_member(args["employee_id"], args["role"], args["hourly_rate"])

    outcome = _execute(chronicle, args, decide)
    member = outcome.aggregate.members[args["employee_id"]]
    return {**member, "project_id": args["project_id"], "position": outcome.position}


def remove_member(args, chronicle):
    _managed(chronicle, args["project_id"])
    outcome = _execute(chronicle, args, lambda p: p.remove_member(args["employee_id"]))
    return {"project_id": args["project_id"], "employee_id": args["employee_id"], "removed": True,
            "position": outcome.position}


def change_status(args, chronicle, *, today: str):
    _managed(chronicle, args["project_id"])
    effective_on = args["effective_on"] or today
    return _project(_execute(chronicle, args, lambda p: p.change_status(args["status"], args["reason"], effective_on)))


def delegate_approvals(args, chronicle):
    """A delegate approves the project's hours for the weeks with a day in the range."""
    project = _managed(chronicle, args["project_id"], "delegating approvals")
    outcome = _execute(
        chronicle, args, lambda p: p.delegate_approvals(args["delegate_id"], args["from_date"], args["to_date"]),
        precheck=lambda: _require_active_resource(chronicle, args["delegate_id"], "delegate"),
    )
    return {"project_id": project.id, "delegations": outcome.aggregate.delegations, "position": outcome.position}


# -- queries --------------------------------------------------------------------------------------
def get_project(args, chronicle):
    chronicle.wait_for(args["min_position"])
    current = access.readable(chronicle.caller, lambda: _get(chronicle, args["project_id"]))  # whatever the as_of
    project = current if args["as_of"] is None else _get(chronicle, args["project_id"], as_of=args["as_of"])
    return access.as_seen_by(chronicle.caller, current.manager_id, project.to_dict())


def list_projects(args, chronicle):
    caller = chronicle.caller
    access.require_lists(caller)
    visible_to = None if caller.role == "admin" else caller.subject  # the rule of access.readable
    filters = {k: args[k] for k in ("status", "customer", "manager_id", "member_id", "client_id")}
    summaries = chronicle.query(lambda db: project_summaries(db, visible_to=visible_to, **filters),
                                min_position=args["min_position"])
    return [access.as_seen_by(caller, summary["manager_id"], summary) for summary in summaries]


def project_progress(args, chronicle):
    project = _managed(chronicle, args["project_id"], "reading a project's progress")
    figures = chronicle.query(lambda db: project_figures(db, project.id), min_position=args["min_position"])
    return project.progress(figures)


def history(args, chronicle):
    project = _managed(chronicle, args["project_id"], "reading a project's history")
    return [_trail_item(event) for event in chronicle.stream(project.stream)]


def _trail_item(event) -> dict:
    item = {
        "id": event.id, "type": event.type, "version": event.version, "schema_version": event.schema_version,
        "position": event.position, "recorded_at": event.recorded_at.isoformat(),
        "actor": event.metadata.get("actor"), "command_id": event.metadata.get("command_id"), "data": event.data,
    }
    if "changes" in event.data and "previous" in event.data:  # ProjectUpdated, PhaseUpdated, TaskUpdated, ...
        item["changes"] = [{"field": field, "old": event.data["previous"].get(field), "new": new}
                           for field, new in event.data["changes"].items()]
    return item


# -- shared steps ---------------------------------------------------------------------------------
def _get(chronicle, project_id, as_of=None) -> Project:
    return chronicle.get(Project, project_id, as_of=as_of, what="project")


def _managed(chronicle, project_id, what="managing a project") -> Project:
    """The project, if the caller may manage it. Commands check this first, before a retry is recognised:
    a ``command_id`` answers only those who may send the command now."""
    return access.managed(chronicle.caller, lambda: _get(chronicle, project_id), what)


def _execute(chronicle, args, decide, expected_version=None, precheck=None):
    caller = chronicle.caller

    def managed_decide(project):
        access.managed(caller, lambda: project)  # again on the state appended to: a handover meanwhile counts
        decide(project)

    return chronicle.execute(Project, args["project_id"], managed_decide, command_id=args.get("command_id"),
                             expected_version=expected_version, precheck=precheck)


def _require_active_resource(chronicle, resource_id, role):
    # fresh: the resource feed is pulled first, so a deactivation already committed is always seen
    known = chronicle.ensure(
        lambda db: resource_state(db, resource_id) is not None, "resource",
        RuleViolation(f"{role} {resource_id} is not a known resource", code=f"project.{role}_unknown"),
        fresh=True,
    )
    if known and not chronicle.query(lambda db: resource_state(db, resource_id)):
        raise RuleViolation(f"{role} {resource_id} is not an active resource", code=f"project.{role}_inactive")


def _project(outcome) -> dict:
    return {**outcome.aggregate.to_dict(), "position": outcome.position}


def _task(outcome, project_id, task_id) -> dict:
    task = next(t for t in outcome.aggregate.to_dict()["tasks"] if t["id"] == task_id)
    return {**task, "project_id": project_id, "position": outcome.position}
