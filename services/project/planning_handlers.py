"""The plan's commands and queries (phases, task changes, milestones and their check, status reports): each one
function of the validated arguments (``args``) and the kit handle (``chronicle``), as in ``handlers.py``; the rules
are in ``domain.py``, ``planning.py`` and ``access.py``. ``today`` (an ISO date) is the service's clock's."""
from __future__ import annotations

import logging

from shared.errors import Conflict
from shared.handling import derive_id

from . import access
from .domain import Project
from .handlers import _execute, _get, _managed
from .planning import DUE_SOON_DAYS
from .planning_views import bookings_of, milestones_to_check, task_hours

log = logging.getLogger(__name__)
NOT_CHANGES = ("project_id", "command_id", "phase_id", "task_id", "milestone_id", "force")


def _changes(args, *keep):
    """The fields to change: the arguments but the ids addressing what changes (``keep``: one that is a change)."""
    return {k: v for k, v in args.items() if k not in NOT_CHANGES or k in keep}


# -- phases ---------------------------------------------------------------------------------------
def add_phase(args, chronicle):
    _managed(chronicle, args["project_id"], "planning a project")
    phase_id = derive_id(args["command_id"], f"phase/{args['project_id']}")
    outcome = _execute(chronicle, args, lambda p: p.add_phase(
        phase_id, args["name"], args["starts_on"], args["ends_on"], args["budget_hours"], args["budget_amount"],
        args["position"]))
    if outcome.replayed and outcome.events:
        phase_id = outcome.events[0].data["phase_id"]  # the first result, whatever id it was derived as
    return _phase(outcome, phase_id)


def update_phase(args, chronicle):
    _managed(chronicle, args["project_id"], "planning a project")
    outcome = _execute(chronicle, args, lambda p: p.update_phase(args["phase_id"], _changes(args)))
    return _phase(outcome, args["phase_id"])


def list_phases(args, chronicle):
    chronicle.wait_for(args["min_position"])
    project = access.readable(chronicle.caller, lambda: _get(chronicle, args["project_id"]))
    return access.as_seen_by(chronicle.caller, project.manager_id, {"phases": project.phase_list()})["phases"]


def _phase(outcome, phase_id):
    """The phase and the phases in order (``position`` is the command's, as in every answer; a phase's place is its
    own ``position``)."""
    phases = outcome.aggregate.phase_list()
    return {"project_id": outcome.aggregate.id, "phase": next(p for p in phases if p["id"] == phase_id),
            "phases": phases, "position": outcome.position}


# -- tasks ----------------------------------------------------------------------------------------
def update_task(args, chronicle, *, today: str):
    _managed(chronicle, args["project_id"])
    bookings = _bookings_if_closing(chronicle, args, args.get("status") == "done")
    outcome = _execute(chronicle, args, lambda p: p.update_task(
        args["task_id"], _changes(args, "phase_id"), bookings=bookings, today=today, force=args["force"]))
    return _task(chronicle, outcome, args["task_id"])


def close_task(args, chronicle, *, today: str):
    _managed(chronicle, args["project_id"])
    bookings = _bookings_if_closing(chronicle, args, True)
    outcome = _execute(chronicle, args, lambda p: p.close_task(args["task_id"], bookings=bookings, today=today,
                                                                force=args["force"]))
    return _task(chronicle, outcome, args["task_id"])


def reopen_task(args, chronicle):
    _managed(chronicle, args["project_id"])
    outcome = _execute(chronicle, args, lambda p: p.reopen_task(args["task_id"]))
    return _task(chronicle, outcome, args["task_id"])


def list_tasks(args, chronicle):
    chronicle.wait_for(args["min_position"])
    project = access.readable(chronicle.caller, lambda: _get(chronicle, args["project_id"]))
    actual = chronicle.query(lambda db: task_hours(db, project.id))
    wanted = {k: args[k] for k in ("phase_id", "assignee_id", "status") if args[k] is not None}
    tasks = [project.task_view(task_id, actual.get(task_id, 0)) for task_id in project.tasks]
    return [t for t in tasks if all(t[k] == v for k, v in wanted.items())]


def _bookings_if_closing(chronicle, args, closing):
    """The project's bookings, fresh from the resource feed, when the command may close a task."""
    if not closing:
        return ()
    chronicle.pull("resource")  # a booking the resource service committed before this call is seen
    chronicle.catch_up()
    return chronicle.query(lambda db: bookings_of(db, args["project_id"]))


def _task(chronicle, outcome, task_id):
    actual = chronicle.query(lambda db: task_hours(db, outcome.aggregate.id)).get(task_id, 0)
    return {**outcome.aggregate.task_view(task_id, actual), "project_id": outcome.aggregate.id,
            "position": outcome.position}


# -- milestones -----------------------------------------------------------------------------------
def add_milestone(args, chronicle):
    _managed(chronicle, args["project_id"], "planning a project")
    milestone_id = derive_id(args["command_id"], f"milestone/{args['project_id']}")
    outcome = _execute(chronicle, args, lambda p: p.add_milestone(milestone_id, args["name"], args["due_on"],
                                                                  args["owner_id"]))
    if outcome.replayed and outcome.events:
        milestone_id = outcome.events[0].data["milestone_id"]
    return _milestone(outcome, milestone_id)


def update_milestone(args, chronicle, *, today: str):
    _managed(chronicle, args["project_id"], "planning a project")
    outcome = _execute(chronicle, args, lambda p: p.update_milestone(args["milestone_id"], _changes(args), today))
    return _milestone(outcome, args["milestone_id"])


def complete_milestone(args, chronicle, *, today: str):
    _managed(chronicle, args["project_id"], "planning a project")
    completed_on = args["completed_on"] or today
    outcome = _execute(chronicle, args, lambda p: p.complete_milestone(args["milestone_id"], completed_on))
    return _milestone(outcome, args["milestone_id"])


def reopen_milestone(args, chronicle):
    _managed(chronicle, args["project_id"], "planning a project")
    outcome = _execute(chronicle, args, lambda p: p.reopen_milestone(args["milestone_id"]))
    return _milestone(outcome, args["milestone_id"])


def list_milestones(args, chronicle):
    chronicle.wait_for(args["min_position"])
    project = access.readable(chronicle.caller, lambda: _get(chronicle, args["project_id"]))
    return [m for m in project.milestone_list() if args["status"] in (None, m["status"])]


def _milestone(outcome, milestone_id):
    milestone = next(m for m in outcome.aggregate.milestone_list() if m["id"] == milestone_id)
    return {**milestone, "project_id": outcome.aggregate.id, "position": outcome.position}


def check_milestones(chronicle, today: str, actor=None) -> dict:
    """Marks missed the open milestones whose date has passed and records the due-soon notices owed on ``today``.
    Each notice's command id names the milestone and the notice (``milestone_notice_due``), so a repeated check,
    or the timer and an operator at once, records each notice once."""
    recorded = []
    candidates = chronicle.query(lambda db: milestones_to_check(db, today, DUE_SOON_DAYS))
    for project_id, milestone_id in candidates:
        project = chronicle.load(Project, project_id)
        key = project.milestone_notice_due(milestone_id, today)
        if key is None:
            continue
        try:
            outcome = chronicle.execute(
                Project, project_id,
                lambda p: p.check_milestone(milestone_id, today),  # noqa: B023
                command_id=f"milestone:{milestone_id}:{key}", actor=actor)
        except Conflict as exc:  # the same notice, recorded meanwhile by another caller's check
            log.info("milestone %s: %s", milestone_id, exc.code)
            continue
        if not outcome.replayed:
            recorded += [{"project_id": project_id, "milestone_id": milestone_id, "type": e.type,
                          "days_left": e.data.get("days_left")} for e in outcome.events]
    return {"today": today, "checked": len(candidates), "recorded": recorded}


# -- status reports -------------------------------------------------------------------------------
def record_status_report(args, chronicle):
    _managed(chronicle, args["project_id"], "reporting on a project")
    report_id = derive_id(args["command_id"], f"status-report/{args['project_id']}")
    author = chronicle.caller.subject
    outcome = _execute(chronicle, args, lambda p: p.record_status_report(
        report_id, args["week"], args["rag"], args["summary"], args["risks"], author))
    if outcome.replayed and outcome.events:
        report_id = outcome.events[0].data["report_id"]
    report = next(r for r in outcome.aggregate.status_reports if r["report_id"] == report_id)
    return {**report, "project_id": outcome.aggregate.id, "position": outcome.position}


def status_reports(args, chronicle):
    """The reports as recorded by ``as_of`` (all of them when null), oldest first."""
    chronicle.wait_for(args["min_position"])
    current = access.readable(chronicle.caller, lambda: _get(chronicle, args["project_id"]))
    project = current if args["as_of"] is None else _get(chronicle, args["project_id"], as_of=args["as_of"])
    return [{**r, "project_id": current.id} for r in project.status_reports]
