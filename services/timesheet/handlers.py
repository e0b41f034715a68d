"""The timesheet service's commands and queries, one function each: ``name(chronicle, caller, args, ...)``.

``chronicle`` is the kit's handle (``shared.kit.ChronicleHandle``), ``caller`` the verified identity and ``args``
the RPC's loaded schema. A handler gathers the facts the rule needs (project facts from our read model, the lock
from the store), checks who may call (``access.py``) and lets the aggregate decide (``domain.py``); a query reads
``views.py``. Clocks come in as values (``now``, ``today``) from the service.
"""
from __future__ import annotations

from shared.config import number
from shared.errors import Conflict, NotFound, RuleViolation
from shared.handling import derive_id
from shared.process import HalfDone, Step, Transfer, reused
from shared.validation import week_of

from . import access, views
from .domain import PeriodLock, Timesheet, check_project, default_billable, timesheet_id
from .projections import authority, project_facts

# Writes that the period lock refuses are decided on the lock and appended only while it has not moved:
# a lock committed before such a write commits always refuses it.
LOCK = ((PeriodLock, "global"),)


class _NotYet(Exception):
    """The project facts do not pass yet (they may not have arrived)."""


# -- facts ----------------------------------------------------------------------------------------
def _project(chronicle, project_id, employee_id, task_id, day, seen=None):
    """Project facts, after pulling the project feed: a change the project service committed before this
    call (put on hold, task closed, member removed, dates moved) is always seen, never a stale pass. With
    ``seen`` (the caller's positions), only the changes up to the caller's project position are waited for:
    no pull when they are recorded already."""

    def passes(db):
        facts = project_facts(db, project_id)
        try:
            check_project(facts, employee_id, task_id, day)
        except RuleViolation:
            return None
        return facts

    try:
        return chronicle.ensure(passes, "project", _NotYet(), fresh=True, seen=seen)
    except _NotYet:
        return chronicle.query(lambda db: project_facts(db, project_id))


def _locked_through(chronicle, as_of=None):
    # From the store, not a view: a lock is strongly consistent.
    return chronicle.load(PeriodLock, "global", as_of=as_of).locked_through


def _authority(chronicle, person, week, projects) -> dict:
    """The projects among ``projects`` whose lines of ``week`` ``person`` decides, and on whose behalf
    (``projections.authority``). The project feed is pulled first: a handover the project service committed
    before this call has taken the old manager's rights (and their delegates') away already."""
    try:
        return chronicle.ensure(lambda db: authority(db, person, projects, week), "project", _NotYet(), fresh=True)
    except _NotYet:
        return {}


def _week_stream(chronicle, employee_id, week):
    return chronicle.stream(Timesheet(timesheet_id(employee_id, week)).stream)


def _week_projects(events) -> set:
    """Every project with hours in a week's events, now or before (entries moved, deleted, submitted lines)."""
    projects = set()
    for event in events:
        if event.data.get("project_id"):
            projects.add(event.data["project_id"])
        projects.update(p["project_id"] for p in event.data.get("projects") or ())
    return projects


def _manages_week(chronicle, person, employee_id, week) -> bool:
    """``person`` manages (in their own right, not as a delegate) a project with hours in the week now."""
    ts = chronicle.load(Timesheet, timesheet_id(employee_id, week))
    return None in _authority(chronicle, person, week, set(ts.lines) | set(ts.project_hours())).values()


def _decides_in(chronicle, person, employee_id, week) -> bool:
    """``person`` manages (or approves as a delegate for) a project with hours in the week, now or before."""
    return bool(_authority(chronicle, person, week, _week_projects(_week_stream(chronicle, employee_id, week))))


def _locate(chronicle, entry_id):
    chronicle.catch_up()
    where = chronicle.query(lambda db: views.entry_location(db, entry_id))
    if where is None:
        raise NotFound(f"entry {entry_id} not found", code="timesheet.entry_not_found")
    return where


def _entry_result(outcome, entry_id):
    return {**outcome.aggregate.entry_view(entry_id), "position": outcome.position}


def _week_result(chronicle, outcome):
    codes = chronicle.query(lambda db: views.project_codes(db, outcome.aggregate.project_hours()))
    return {**views.week(outcome.aggregate, _locked_through(chronicle), codes), "position": outcome.position}


# -- logging, amending, moving and deleting hours -------------------------------------------------
def log_time(chronicle, caller, args):
    employee_id, day = args["employee_id"], args["date"]
    access.own_hours(caller, employee_id, "logging hours")
    # A command_id is scoped to its employee: the entry id includes the employee id.
    entry_id = derive_id(args["command_id"], f"entry/{employee_id}")
    if args["command_id"]:
        # The kit replays within the target week only; the week follows `date`, so look in every week
        # (and for an entry logged before entry ids included the employee).
        replayed = _replay_log(chronicle, (entry_id, derive_id(args["command_id"], "entry")), args["command_id"],
                               employee_id)
        if replayed is not None:
            return replayed
    project = _project(chronicle, args["project_id"], employee_id, args["task_id"], day, seen=args["seen"])

    def decide(ts: Timesheet, lock: PeriodLock):
        ts.log(entry_id, project, day, args["hours"], task_id=args["task_id"], description=args["description"],
               billable=args["billable"], locked_through=lock.locked_through)

    outcome = chronicle.execute(Timesheet, timesheet_id(employee_id, week_of(day)), decide,
                                command_id=args["command_id"], reads=LOCK)
    return _entry_result(outcome, entry_id)


def _replay_log(chronicle, entry_ids, command_id, employee_id):
    """The entry a log_time's command_id derives (the first of ``entry_ids`` that exists) exists already, in any
    week (a retry with another date): the first result, from the week where that command logged it (followed back
    through moves). None if the entry was never logged."""
    chronicle.catch_up()

    def locate(db):
        for entry_id in entry_ids:
            where = views.entry_location(db, entry_id, employee_id)
            if where is not None:
                return entry_id, where
        return None, None

    entry_id, where = chronicle.query(locate)
    if where is None:
        return None
    week, seen = where["week"], set()
    while week not in seen:
        seen.add(week)
        events = _week_stream(chronicle, employee_id, week)
        if any(e.metadata.get("command_id") == command_id for e in events):
            break
        came_from = next((e.data.get("moved_from_week") for e in events
                          if e.type == "TimeLogged" and e.data.get("entry_id") == entry_id), None)
        if not came_from:
            break
        week = came_from

    def refuse(ts):  # only if the command is not in that stream: never log the entry a second time
        raise Conflict(f"command_id {command_id!r} was already used", code="command_id.reused")

    # The kit finds the command in that stream and returns its first outcome without appending.
    outcome = chronicle.execute(Timesheet, timesheet_id(employee_id, week), refuse, command_id=command_id)
    return _entry_result(outcome, entry_id)


def _moved(entry, changes, project):
    """The entry's state after ``changes``; a new task brings its billable default unless billable is given."""
    new = {**entry, **changes}
    if "billable" not in changes and new["task_id"] != entry["task_id"] and project is not None:
        new["billable"] = default_billable(project, new["task_id"], None)
    return new


def amend_entry(chronicle, caller, args):
    """An amendment in the entry's week, or a move to another week (``shared.process.Transfer``: out of the old
    week, into the new one, put back if the new one refuses)."""
    entry_id = args["entry_id"]
    where = _locate(chronicle, entry_id)
    access.own_hours(caller, where["employee_id"], "amending hours")
    changes = {k: args[k] for k in ("hours", "date", "task_id", "description", "billable") if args[k] is not None}
    move = Transfer(chronicle, args["command_id"])
    first = _recover_amend(chronicle, move, entry_id, where, changes)
    if first is not None:
        return first
    current = chronicle.load(Timesheet, timesheet_id(where["employee_id"], where["week"]))
    entry = current.entries.get(entry_id)
    if entry is None:
        raise NotFound(f"entry {entry_id} not found", code="timesheet.entry_not_found")
    new = {**entry, **changes}
    project = _project(chronicle, entry["project_id"], entry["employee_id"], new["task_id"], new["date"],
                       seen=args["seen"])
    if week_of(new["date"]) == current.week:
        outcome = chronicle.execute(
            Timesheet, current.id,
            lambda ts, lock: ts.amend(entry_id, project, changes, reason=args["reason"],
                                      locked_through=lock.locked_through),
            command_id=move.step_id, reads=LOCK)
        return _entry_result(outcome, entry_id)
    new = _moved(entry, changes, project)
    old_week, new_week = current.week, week_of(new["date"])
    # Refuse before writing anything if either week would refuse.
    locked = _locked_through(chronicle)
    probe = chronicle.load(Timesheet, timesheet_id(entry["employee_id"], new_week))
    current.delete(entry_id, reason=args["reason"], locked_through=locked, moved_to_week=new_week)
    probe.log(entry_id, project, new["date"], new["hours"], task_id=new["task_id"],
              description=new["description"], billable=new["billable"], locked_through=locked,
              moved_from_week=old_week)
    reason = args["reason"] or f"moved to {new_week}"
    out = Step(Timesheet, current.id, lambda ts, lock: ts.delete(
        entry_id, reason=reason, locked_through=lock.locked_through, moved_to_week=new_week), LOCK)
    return _entry_result(move.run(out, *_move_in(entry, new, project, old_week)), entry_id)


def _move_in(entry, new, project, old_week):
    """A move's step into the new week, and its undo: the entry logged back in the old week as it was."""
    entry_id, employee_id, new_week = entry["entry_id"], entry["employee_id"], week_of(new["date"])
    into = Step(Timesheet, timesheet_id(employee_id, new_week), lambda ts, lock: ts.log(
        entry_id, project, new["date"], new["hours"], task_id=new["task_id"], description=new["description"],
        billable=new["billable"], locked_through=lock.locked_through, moved_from_week=old_week), LOCK)
    undo = Step(Timesheet, timesheet_id(employee_id, old_week), lambda ts: ts.log(
        entry_id, project, entry["date"], entry["hours"], task_id=entry["task_id"],
        description=entry["description"], billable=entry["billable"], moved_from_week=new_week))
    return into, undo


def _entry_weeks(chronicle, entry_id, employee_id, week):
    """Every week the entry has lived in, followed through its moves both ways: week -> its events."""
    streams, todo = {}, [week]
    while todo:
        w = todo.pop()
        if w in streams:
            continue
        streams[w] = _week_stream(chronicle, employee_id, w)
        for e in streams[w]:
            if e.data.get("entry_id") == entry_id:
                todo += [e.data[k] for k in ("moved_from_week", "moved_to_week") if e.data.get(k)]
    return streams


def _recover_amend(chronicle, move: Transfer, entry_id, where, changes):
    """A retried amend_entry, checked before any lookup or rule (the entry may have changed, moved on or gone
    since): the first result if this command_id changed the entry in any week it lived in; a move stopped
    after its step out is completed. None: decide (again) as ``move.attempt``."""
    if not move.command_id:
        return None
    employee_id = where["employee_id"]
    streams = _entry_weeks(chronicle, entry_id, employee_id, where["week"])
    weeks = {timesheet_id(employee_id, week): week for week in streams}
    found = move.recover(
        Timesheet, list(weeks),
        is_step_out=lambda outcome: all(e.type == "TimeEntryDeleted" for e in outcome.events),
        is_mine=lambda outcome: all(e.data.get("entry_id") == entry_id for e in outcome.events))
    if found is None:
        return None
    if not isinstance(found, HalfDone):
        return _entry_result(found, entry_id)
    old_week, out = weeks[found.aggregate_id], found.outcome.events[-1]
    before = Timesheet.rebuild(found.aggregate_id, [e for e in streams[old_week] if e.version < out.version])
    entry = before.entries[entry_id]
    new = {**entry, **changes}
    if week_of(new["date"]) != out.data["moved_to_week"]:
        raise reused(move.command_id)  # a retry is the same command: the same target week
    project = _project(chronicle, entry["project_id"], employee_id, new["task_id"], new["date"])
    return _entry_result(move.complete(*_move_in(entry, _moved(entry, changes, project), project, old_week)),
                         entry_id)


def delete_entry(chronicle, caller, args):
    entry_id = args["entry_id"]
    where = _locate(chronicle, entry_id)
    access.own_hours(caller, where["employee_id"], "deleting hours")
    outcome = chronicle.execute(
        Timesheet, timesheet_id(where["employee_id"], where["week"]),
        lambda ts, lock: ts.delete(entry_id, reason=args["reason"], locked_through=lock.locked_through),
        command_id=args["command_id"], reads=LOCK)
    data = outcome.events[-1].data if outcome.events else {}
    return {"id": entry_id, "deleted": True, "employee_id": where["employee_id"], "week": where["week"],
            "hours": data.get("hours"), "position": outcome.position}


# -- a week's approval ----------------------------------------------------------------------------
def _require_known(chronicle, employee_id, week):
    """Only a known employee's week is written: one with events already (its entries, a submission), or
    a member of a project we know (pulled from the project feed if not yet here)."""
    if chronicle.load(Timesheet, timesheet_id(employee_id, week)).exists:
        return
    chronicle.ensure(lambda db: views.is_known_member(db, employee_id), "project",
                     NotFound(f"employee {employee_id} is not known (a member of no project)",
                              code="timesheet.employee_unknown"))


def submit_timesheet(chronicle, caller, args):
    access.own_hours(caller, args["employee_id"], "submitting a week")
    _require_known(chronicle, args["employee_id"], args["week"])
    # The submission names each project's manager, whom the notification service sends the hours: the managers
    # now, after pulling the project feed, never one who has handed the project over.
    chronicle.pull("project")
    chronicle.catch_up()

    def decide(ts: Timesheet):
        ts.submit(chronicle.query(lambda db: views.managers(db, ts.project_hours())), actor_id=caller.subject)

    outcome = chronicle.execute(Timesheet, timesheet_id(args["employee_id"], args["week"]), decide,
                                command_id=args["command_id"])
    return _week_result(chronicle, outcome)


def _decide(chronicle, caller, args, what, decide):
    """Approve or reject as the caller: the lines of the projects they manage or approve for as a delegate
    (an admin: every line); one's own hours only as an admin, which the event records."""
    access.decide_week(caller, what)
    week = chronicle.load(Timesheet, timesheet_id(args["employee_id"], args["week"]))
    admin = caller.role == "admin"
    if admin:
        lines = None  # every line, as the week stands when decided
    else:
        lines = _authority(chronicle, caller.subject, args["week"], set(week.lines) | set(week.project_hours()))
    outcome = chronicle.execute(
        Timesheet, week.id,
        lambda ts: decide(ts, caller.subject, dict.fromkeys(ts.lines) if lines is None else lines, admin),
        command_id=args["command_id"])
    return _week_result(chronicle, outcome)


def approve_timesheet(chronicle, caller, args, now: str):
    return _decide(chronicle, caller, args, "approving hours", lambda ts, approver, lines, admin: ts.approve(
        approver, lines, args["project_id"], at=now, admin=admin))


def reject_timesheet(chronicle, caller, args):
    return _decide(chronicle, caller, args, "rejecting hours", lambda ts, approver, lines, admin: ts.reject(
        approver, lines, args["reason"], args["project_id"], admin=admin))


def reopen_timesheet(chronicle, caller, args):
    access.reopen_week(caller, args["employee_id"],
                       lambda: _manages_week(chronicle, caller.subject, args["employee_id"], args["week"]))
    outcome = chronicle.execute(
        Timesheet, timesheet_id(args["employee_id"], args["week"]),
        lambda ts, lock: ts.reopen(caller.subject, args["reason"], locked_through=lock.locked_through),
        command_id=args["command_id"], reads=LOCK)
    return _week_result(chronicle, outcome)


# -- the period lock ------------------------------------------------------------------------------
def lock_period(chronicle, caller, args, today, max_days_ahead):
    access.admin_only(caller, "locking a period")
    outcome = chronicle.execute(
        PeriodLock, "global", lambda lock: lock.lock(args["through_date"], caller.subject, today, max_days_ahead),
        command_id=args["command_id"])
    return {"locked_through": outcome.aggregate.locked_through, "position": outcome.position}


def unlock_period(chronicle, caller, args):
    access.admin_only(caller, "unlocking a period")
    outcome = chronicle.execute(
        PeriodLock, "global", lambda lock: lock.unlock(args["through_date"], args["reason"], caller.subject),
        command_id=args["command_id"])
    return {"locked_through": outcome.aggregate.locked_through, "position": outcome.position}


def period_lock(chronicle, caller, args):
    access.any_person(caller, "the period lock")
    return views.lock_history(chronicle.stream(PeriodLock("global").stream))


# -- reading weeks and reports --------------------------------------------------------------------
def _require_reader(chronicle, caller, args, what):
    access.read_week(caller, args["employee_id"],
                     lambda: _decides_in(chronicle, caller.subject, args["employee_id"], args["week"]), what)


def get_timesheet(chronicle, caller, args):
    _require_reader(chronicle, caller, args, "reading a week")
    chronicle.wait_for(args["min_position"])
    ts = chronicle.load(Timesheet, timesheet_id(args["employee_id"], args["week"]), as_of=args["as_of"])
    codes = chronicle.query(lambda db: views.project_codes(db, ts.project_hours()))
    return views.week(ts, _locked_through(chronicle, as_of=args["as_of"]), codes)


def history(chronicle, caller, args):
    _require_reader(chronicle, caller, args, "a week's history")
    ts = Timesheet(timesheet_id(args["employee_id"], args["week"]))
    trail = views.history(ts, chronicle.stream(ts.stream))
    return {"employee_id": args["employee_id"], "week": args["week"], "events": trail, "version": ts.version}


def pending_approvals(chronicle, caller, args):
    approver = access.approval_queue(caller, args["approver_id"])
    chronicle.catch_up()
    return chronicle.query(lambda db: views.pending_approvals(db, approver), min_position=args["min_position"])


def _manages_project(chronicle, person, project_id) -> bool:
    try:  # fresh, like _authority: a manager handed the project over a moment ago no longer manages it
        return bool(chronicle.ensure(lambda db: views.manages_project(db, person, project_id), "project", _NotYet(),
                                     fresh=True))
    except _NotYet:
        return False


def project_hours(chronicle, caller, args):
    access.project_report(caller, lambda: _manages_project(chronicle, caller.subject, args["project_id"]))
    chronicle.catch_up()
    return chronicle.query(
        lambda db: views.project_hours(db, args["project_id"], args["from_date"], args["to_date"]),
        min_position=args["min_position"])


def export_hours(chronicle, caller, args):
    access.hours_export(caller)
    if args["since"] is not None:
        from .close import export_delta  # the close's delta export (close.py imports this module)

        return export_delta(chronicle, args)
    after, limit = views.export_key(args["after"]), args["limit"]
    # An unpaged reply is bounded: a year of a large company must be paged (JSON) or read from the gateway, which
    # streams it page by page; one reply never holds it all.
    most = None if limit is not None else int(number(chronicle.config, "EXPORT_MAX_ROWS", 20_000))
    chronicle.catch_up()
    rows = chronicle.query(
        lambda db: views.export_rows(db, args["from_date"], args["to_date"], args["status"], after,
                                     limit if most is None else most + 1),
        min_position=args["min_position"])
    if most is not None and len(rows) > most:
        raise RuleViolation(f"the range holds more than {most} lines: page it (limit and after, JSON) or read "
                            "GET /api/v1/exports/hours, which streams it", code="export.too_large")
    return views.export_page(rows, limit, args["format"])
