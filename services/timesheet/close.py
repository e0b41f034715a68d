"""The month-end close's commands and its delta export, one function each (as ``handlers.py``): corrections after
the lock (``correct_entry``, ``add_late_entry``), invoicing marks (``mark_invoiced``) and ``export_hours(since=)``.
The rules are in ``corrections.py`` (the week's commands), ``access.py`` (who) and ``exports.py`` (the lines).
"""
from __future__ import annotations

from shared.errors import NotFound
from shared.handling import derive_id
from shared.validation import week_of

from . import access, exports
from .domain import Timesheet, open_day, timesheet_id
from .handlers import LOCK, _locate, _manages_project, _NotYet
from .projections import project_facts

DELTA_PAGE = 1000  # changes per delta page when no limit is given


def _facts(chronicle, project_id):
    """The project's facts, after pulling the project feed (a task added a moment ago is known)."""
    try:
        return chronicle.ensure(lambda db: project_facts(db, project_id), "project", _NotYet(), fresh=True)
    except _NotYet:
        return None


def _result(outcome, entry_id):
    return {**outcome.aggregate.entry_view(entry_id), "position": outcome.position}


def correct_entry(chronicle, caller, args, today):
    entry_id = args["entry_id"]
    where = _locate(chronicle, entry_id)
    access.correct_hours(caller, where["employee_id"],
                         lambda: _manages_project(chronicle, caller.subject, where["project_id"]), "correcting hours")
    changes = {k: args[k] for k in ("hours", "task_id", "billable") if args[k] is not None}
    project = _facts(chronicle, where["project_id"]) if "task_id" in changes else None
    outcome = chronicle.execute(
        Timesheet, timesheet_id(where["employee_id"], where["week"]),
        lambda ts, lock: ts.correct(entry_id, project, changes, args["reason"],
                                    booked_on=open_day(today, lock.locked_through),
                                    locked_through=lock.locked_through),
        command_id=args["command_id"], reads=LOCK)
    if entry_id not in outcome.aggregate.entries:  # moved away since (a retry): where it was
        raise NotFound(f"entry {entry_id} not found", code="timesheet.entry_not_found")
    return _result(outcome, entry_id)


def add_late_entry(chronicle, caller, args, today):
    employee_id, day = args["employee_id"], args["date"]
    access.correct_hours(caller, employee_id, lambda: _manages_project(chronicle, caller.subject, args["project_id"]),
                         "adding a late entry")
    entry_id = derive_id(args["command_id"], f"late/{employee_id}")
    project = _facts(chronicle, args["project_id"])
    outcome = chronicle.execute(
        Timesheet, timesheet_id(employee_id, week_of(day)),
        lambda ts, lock: ts.add_late(entry_id, project, day, args["hours"], args["reason"],
                                     booked_on=open_day(today, lock.locked_through), task_id=args["task_id"],
                                     description=args["description"], billable=args["billable"],
                                     locked_through=lock.locked_through),
        command_id=args["command_id"], reads=LOCK)
    return _result(outcome, entry_id)


def mark_invoiced(chronicle, caller, args):
    """Every entry is found and every week would take the mark before anything is written; then one
    ``TimeEntriesInvoiced`` per employee-week."""
    access.admin_only(caller, "marking hours invoiced")
    weeks: dict[str, list[str]] = {}
    for entry_id in dict.fromkeys(args["entry_ids"]):
        where = _locate(chronicle, entry_id)
        weeks.setdefault(timesheet_id(where["employee_id"], where["week"]), []).append(entry_id)
    ref = args["invoice_ref"]
    for ts_id, ids in weeks.items():
        chronicle.load(Timesheet, ts_id).invoice(ids, ref)  # refuses before any week is written
    positions = [chronicle.execute(Timesheet, ts_id, lambda ts, ids=ids: ts.invoice(ids, ref),
                                   command_id=args["command_id"]).position for ts_id, ids in weeks.items()]
    known = [p for p in positions if p is not None]
    return {"invoice_ref": ref, "entry_ids": list(dict.fromkeys(args["entry_ids"])),
            "position": max(known) if known else None}


def export_delta(chronicle, args):
    exports.cursor_key(args["since"])  # a bad cursor is refused before waiting on anything
    chronicle.catch_up()
    return chronicle.query(
        lambda db: exports.delta(db, args["since"], args["limit"] or DELTA_PAGE, args["status"], args["from_date"],
                                 args["to_date"]),
        min_position=args["min_position"])
