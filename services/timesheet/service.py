"""The timesheet nameko service: hours logged per employee-week, approvals, period locks, exports.

Thin: validate the keyword arguments, gather the facts the domain needs (project facts from our
read model, the lock from the store), then let the aggregate decide. Entry point:
``nameko run services.timesheet.service``.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

from shared import config as cfg
from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.handling import derive_id
from shared.kit import Chronicle
from shared.validation import hours, load, week_days, week_of

from . import access
from . import schemas as s
from .domain import (
    ENTRY_FIELDS,
    LOCK_MAX_DAYS_AHEAD,
    PeriodLock,
    Timesheet,
    check_project,
    default_billable,
    timesheet_id,
)
from .events import events
from .projections import (
    ENTRY_JOINS,
    ENTRY_STATUS_SQL,
    LIVE,
    ProjectFactsView,
    TimesheetsView,
    authority,
    project_facts,
)

EXPORT_COLUMNS = ("entry_id", "employee_id", "project_id", "project_code", "task_id", "task_name", "date", "hours",
                  "billable", "description", "status", "approved_by", "approved_at")


def _export_key(after):
    """``export_hours``' ``after``: the key of the last row of the previous page (its ``next``)."""
    if after is None:
        return None
    try:
        key = json.loads(after)
    except ValueError:
        key = None
    if not (isinstance(key, list) and len(key) == 4 and all(isinstance(k, str) for k in key)):
        raise ValidationError({"after": ["Not a key an export page gave."]})
    return key


class _NotYet(Exception):
    """The project facts do not pass yet (they may not have arrived)."""


def _move_command_ids(command_id, attempt):
    """A move's command ids for one attempt: its step out of the old week and its step into the new week carry
    the move's own command_id (each on its own aggregate); putting the entry back after a refused second step
    carries ``<id>/back``. An attempt that was undone was refused: a retry decides again as attempt 2, 3, ...
    (``<id>/2``). Without a command_id: none."""
    if not command_id:
        return None, None
    step = command_id if attempt == 1 else f"{command_id}/{attempt}"
    return step, f"{step}/back"


def _moved(entry, changes, project):
    """The entry's state after ``changes``; a new task brings its billable default unless billable is given."""
    new = {**entry, **changes}
    if "billable" not in changes and new["task_id"] != entry["task_id"] and project is not None:
        new["billable"] = default_billable(project, new["task_id"], None)
    return new


def _reused(command_id):
    return Conflict(f"command_id {command_id!r} was already used for another command", code="command_id.reused")


# Writes that the period lock refuses are decided on the lock and appended only while it has not moved:
# a lock committed before such a write commits always refuses it.
LOCK = ((PeriodLock, "global"),)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _today() -> date:
    """The calendar day a lock is bounded by (the one clock of the lock rule: tests set it)."""
    return datetime.now(timezone.utc).date()


def _week_projects(events) -> set:
    """Every project with hours in a week's events, now or before (entries moved, deleted, submitted lines)."""
    projects = set()
    for event in events:
        if event.data.get("project_id"):
            projects.add(event.data["project_id"])
        projects.update(p["project_id"] for p in event.data.get("projects") or ())
    return projects


class TimesheetService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "timesheet"
    chronicle = Chronicle(
        categories=CATEGORIES["timesheet"],
        events=events,
        projections=lambda: [ProjectFactsView(), TimesheetsView()],
        sources=sources("project"),
    )

    # -- helpers --------------------------------------------------------------------------------
    def _project(self, project_id, employee_id, task_id, day, seen=None):
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
            return self.chronicle.ensure(passes, "project", _NotYet(), fresh=True, seen=seen)
        except _NotYet:
            return self.chronicle.query(lambda db: project_facts(db, project_id))

    def _locked_through(self, as_of=None):
        # From the store, not a view: a lock is strongly consistent.
        return self.chronicle.load(PeriodLock, "global", as_of=as_of).locked_through

    def _authority(self, person, week, projects) -> dict:
        """The projects among ``projects`` whose lines of ``week`` ``person`` decides, and on whose behalf
        (``projections.authority``); a project or a delegation published a moment ago is pulled in first."""
        try:
            return self.chronicle.ensure(lambda db: authority(db, person, projects, week), "project", _NotYet())
        except _NotYet:
            return {}

    def _manages_week(self, person, employee_id, week) -> bool:
        """``person`` manages (in their own right, not as a delegate) a project with hours in the week now."""
        ts = self.chronicle.load(Timesheet, timesheet_id(employee_id, week))
        return None in self._authority(person, week, set(ts.lines) | set(ts.project_hours())).values()

    def _decides_in(self, person, employee_id, week) -> bool:
        """``person`` manages (or approves as a delegate for) a project with hours in the week, now or before."""
        events = self.chronicle.stream(Timesheet(timesheet_id(employee_id, week)).stream)
        return bool(self._authority(person, week, _week_projects(events)))

    def _locate(self, entry_id):
        self.chronicle.catch_up()
        row = self.chronicle.query(lambda db: db.execute(
            "SELECT employee_id, week, project_id FROM ts_entries WHERE entry_id = ?", (entry_id,)).fetchone())
        if row is None:
            raise NotFound(f"entry {entry_id} not found", code="timesheet.entry_not_found")
        return dict(row)

    def _entry_result(self, outcome, entry_id):
        return {**outcome.aggregate.entry_view(entry_id), "position": outcome.position}

    def _replay_log(self, entry_id, command_id, employee_id):
        """The entry a log_time's command_id derives exists already, in any week (a retry with another date):
        the first result, from the week where that command logged it (followed back through moves).
        None if the entry was never logged."""
        self.chronicle.catch_up()
        row = self.chronicle.query(lambda db: db.execute(
            "SELECT employee_id, week FROM ts_entries WHERE entry_id = ? AND employee_id = ?",
            (entry_id, employee_id)).fetchone())
        if row is None:
            return None
        employee_id, week, seen = row["employee_id"], row["week"], set()
        while week not in seen:
            seen.add(week)
            events = self.chronicle.stream(Timesheet(timesheet_id(employee_id, week)).stream)
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
        outcome = self.chronicle.execute(Timesheet, timesheet_id(employee_id, week), refuse,
                                         command_id=command_id)
        return self._entry_result(outcome, entry_id)

    def _entry_weeks(self, entry_id, employee_id, week):
        """Every week the entry has lived in, followed through its moves both ways: week -> its events."""
        streams, todo = {}, [week]
        while todo:
            w = todo.pop()
            if w in streams:
                continue
            streams[w] = self.chronicle.stream(Timesheet(timesheet_id(employee_id, w)).stream)
            for e in streams[w]:
                if e.data.get("entry_id") == entry_id:
                    todo += [e.data[k] for k in ("moved_from_week", "moved_to_week") if e.data.get(k)]
        return streams

    def _replay_amend(self, entry_id, where, command_id, changes):
        """A retried amend_entry, checked before any lookup or rule (the entry may have changed, moved on or
        gone since): returns (the first result, None) if this command_id changed the entry in any week it lived
        in; else (None, the attempt to decide). A move whose step out was written but not its step in (the
        process stopped in between) is completed here; one that was undone is decided again as a new attempt."""
        employee_id = where["employee_id"]
        streams = self._entry_weeks(entry_id, employee_id, where["week"])
        attempt = 1
        while True:
            step, back = _move_command_ids(command_id, attempt)
            done = {}
            for week in streams:
                outcome = self.chronicle.replayed(Timesheet, timesheet_id(employee_id, week), step)
                if outcome is not None:
                    if any(e.data.get("entry_id") != entry_id for e in outcome.events):
                        raise _reused(command_id)
                    done[week] = outcome
            if not done:
                return None, attempt
            for outcome in done.values():  # the amend, or the move's step into the new week
                if any(e.type != "TimeEntryDeleted" for e in outcome.events):
                    return self._entry_result(outcome, entry_id), None
            [(old_week, outcome)] = done.items()  # only the step out of the old week
            if any(e.metadata.get("command_id") == back for e in streams[old_week]):
                attempt += 1
                continue
            out = outcome.events[-1]
            before = Timesheet.rebuild(timesheet_id(employee_id, old_week),
                                       [e for e in streams[old_week] if e.version < out.version])
            entry = before.entries[entry_id]
            new = {**entry, **changes}
            if week_of(new["date"]) != out.data["moved_to_week"]:
                raise _reused(command_id)  # a retry is the same command: the same target week
            project = self._project(entry["project_id"], employee_id, new["task_id"], new["date"])
            return self._move_in(entry, _moved(entry, changes, project), project, old_week, command_id,
                                 attempt), None

    # -- commands -------------------------------------------------------------------------------
    @rpc
    def log_time(self, **kwargs):
        args = load(s.LogTimeSchema, kwargs)
        employee_id, day = args["employee_id"], args["date"]
        access.own_hours(self.chronicle.caller, employee_id, "logging hours")
        # A command_id is scoped to its employee: the entry id includes the employee id.
        entry_id = derive_id(args["command_id"], f"entry/{employee_id}")
        if args["command_id"]:
            # The kit replays within the target week only; the week follows `date`, so look in every week
            # (and for an entry logged before entry ids included the employee).
            for logged_id in (entry_id, derive_id(args["command_id"], "entry")):
                replayed = self._replay_log(logged_id, args["command_id"], employee_id)
                if replayed is not None:
                    return replayed
        project = self._project(args["project_id"], employee_id, args["task_id"], day, seen=args["seen"])

        def decide(ts: Timesheet, lock: PeriodLock):
            ts.log(entry_id, project, day, args["hours"], task_id=args["task_id"], description=args["description"],
                   billable=args["billable"], locked_through=lock.locked_through)

        outcome = self.chronicle.execute(Timesheet, timesheet_id(employee_id, week_of(day)), decide,
                                         command_id=args["command_id"], reads=LOCK)
        return self._entry_result(outcome, entry_id)

    @rpc
    def amend_entry(self, **kwargs):
        args = load(s.AmendEntrySchema, kwargs)
        entry_id, command_id = args["entry_id"], args["command_id"]
        where = self._locate(entry_id)
        access.own_hours(self.chronicle.caller, where["employee_id"], "amending hours")
        changes = {k: args[k] for k in ("hours", "date", "task_id", "description", "billable") if args[k] is not None}
        attempt = 1
        if command_id:
            first, attempt = self._replay_amend(entry_id, where, command_id, changes)
            if first is not None:
                return first
        step, _ = _move_command_ids(command_id, attempt)
        current = self.chronicle.load(Timesheet, timesheet_id(where["employee_id"], where["week"]))
        entry = current.entries.get(entry_id)
        if entry is None:
            raise NotFound(f"entry {entry_id} not found", code="timesheet.entry_not_found")
        new = {**entry, **changes}
        project = self._project(entry["project_id"], entry["employee_id"], new["task_id"], new["date"],
                                seen=args["seen"])
        if week_of(new["date"]) == current.week:
            outcome = self.chronicle.execute(
                Timesheet, current.id,
                lambda ts, lock: ts.amend(entry_id, project, changes, reason=args["reason"],
                                          locked_through=lock.locked_through),
                command_id=step, reads=LOCK)
            return self._entry_result(outcome, entry_id)
        return self._move(current, entry, _moved(entry, changes, project), project, args, attempt)

    def _move(self, current: Timesheet, entry: dict, new: dict, project, args, attempt):
        """An entry moved to another week: deleted in the old week, then logged with the same id in the new."""
        entry_id, command_id = entry["entry_id"], args["command_id"]
        old_week, new_week = current.week, week_of(new["date"])
        locked = self._locked_through()
        # Refuse before writing anything if either week would refuse.
        probe = self.chronicle.load(Timesheet, timesheet_id(entry["employee_id"], new_week))
        current.delete(entry_id, reason=args["reason"], locked_through=locked, moved_to_week=new_week)
        probe.log(entry_id, project, new["date"], new["hours"], task_id=new["task_id"],
                  description=new["description"], billable=new["billable"], locked_through=locked,
                  moved_from_week=old_week)
        reason = args["reason"] or f"moved to {new_week}"
        step, _ = _move_command_ids(command_id, attempt)
        self.chronicle.execute(
            Timesheet, current.id,
            lambda ts, lock: ts.delete(entry_id, reason=reason, locked_through=lock.locked_through,
                                       moved_to_week=new_week),
            command_id=step, reads=LOCK)
        return self._move_in(entry, new, project, old_week, command_id, attempt)

    def _move_in(self, entry: dict, new: dict, project, old_week, command_id, attempt):
        """A move's second step: log the entry in its new week; if that week refuses now (it changed since the
        probe), put the entry back in the old week (a retry then decides again). If even that did not happen (the
        process stopped), a retry with the command_id completes the move: the entry never lives in two weeks."""
        entry_id, employee_id = entry["entry_id"], entry["employee_id"]
        new_week = week_of(new["date"])
        step, back = _move_command_ids(command_id, attempt)

        def log_there(ts, lock):
            ts.log(entry_id, project, new["date"], new["hours"], task_id=new["task_id"],
                   description=new["description"], billable=new["billable"],
                   locked_through=lock.locked_through, moved_from_week=old_week)

        try:
            outcome = self.chronicle.execute(Timesheet, timesheet_id(employee_id, new_week), log_there,
                                             command_id=step, reads=LOCK)
        except Exception:
            self.chronicle.execute(
                Timesheet, timesheet_id(employee_id, old_week),
                lambda ts: ts.log(entry_id, project, entry["date"], entry["hours"], task_id=entry["task_id"],
                                  description=entry["description"], billable=entry["billable"],
                                  moved_from_week=new_week),
                command_id=back)
            raise
        return self._entry_result(outcome, entry_id)

    @rpc
    def delete_entry(self, **kwargs):
        args = load(s.DeleteEntrySchema, kwargs)
        entry_id = args["entry_id"]
        where = self._locate(entry_id)
        access.own_hours(self.chronicle.caller, where["employee_id"], "deleting hours")
        outcome = self.chronicle.execute(
            Timesheet, timesheet_id(where["employee_id"], where["week"]),
            lambda ts, lock: ts.delete(entry_id, reason=args["reason"], locked_through=lock.locked_through),
            command_id=args["command_id"], reads=LOCK)
        data = outcome.events[-1].data if outcome.events else {}
        return {"id": entry_id, "deleted": True, "employee_id": where["employee_id"], "week": where["week"],
                "hours": data.get("hours"), "position": outcome.position}

    def _require_known(self, employee_id, week):
        """Only a known employee's week is written: one with events already (its entries, a submission), or
        a member of a project we know (pulled from the project feed if not yet here)."""
        if self.chronicle.load(Timesheet, timesheet_id(employee_id, week)).exists:
            return
        self.chronicle.ensure(
            lambda db: db.execute("SELECT 1 FROM ts_members WHERE employee_id = ? LIMIT 1", (employee_id,)).fetchone(),
            "project", NotFound(f"employee {employee_id} is not known (a member of no project)",
                                code="timesheet.employee_unknown"))

    @rpc
    def submit_timesheet(self, **kwargs):
        args = load(s.SubmitSchema, kwargs)
        caller = self.chronicle.caller
        access.own_hours(caller, args["employee_id"], "submitting a week")
        self._require_known(args["employee_id"], args["week"])

        def decide(ts: Timesheet):
            managers = self.chronicle.query(lambda db: {
                pid: (project_facts(db, pid).manager_id if project_facts(db, pid) else None)
                for pid in ts.project_hours()})
            ts.submit(managers, actor_id=caller.subject)

        outcome = self.chronicle.execute(Timesheet, timesheet_id(args["employee_id"], args["week"]), decide,
                                         command_id=args["command_id"])
        return self._week_result(outcome)

    def _decide(self, args, what, decide):
        """Approve or reject as the caller: the lines of the projects they manage or approve for as a delegate
        (an admin: every line); one's own hours only as an admin, which the event records."""
        caller = self.chronicle.caller
        access.decide_week(caller, what)
        week = self.chronicle.load(Timesheet, timesheet_id(args["employee_id"], args["week"]))
        admin = caller.role == "admin"
        if admin:
            lines = None  # every line, as the week stands when decided
        else:
            lines = self._authority(caller.subject, args["week"], set(week.lines) | set(week.project_hours()))
        return self.chronicle.execute(
            Timesheet, week.id,
            lambda ts: decide(ts, caller.subject, dict.fromkeys(ts.lines) if lines is None else lines, admin),
            command_id=args["command_id"])

    @rpc
    def approve_timesheet(self, **kwargs):
        args = load(s.ApproveSchema, kwargs)
        outcome = self._decide(args, "approving hours", lambda ts, approver, lines, admin: ts.approve(
            approver, lines, args["project_id"], at=_now(), admin=admin))
        return self._week_result(outcome)

    @rpc
    def reject_timesheet(self, **kwargs):
        args = load(s.RejectSchema, kwargs)
        outcome = self._decide(args, "rejecting hours", lambda ts, approver, lines, admin: ts.reject(
            approver, lines, args["reason"], args["project_id"], admin=admin))
        return self._week_result(outcome)

    @rpc
    def reopen_timesheet(self, **kwargs):
        args = load(s.ReopenSchema, kwargs)
        caller = self.chronicle.caller
        access.reopen_week(caller, args["employee_id"],
                           lambda: self._manages_week(caller.subject, args["employee_id"], args["week"]))
        outcome = self.chronicle.execute(
            Timesheet, timesheet_id(args["employee_id"], args["week"]),
            lambda ts, lock: ts.reopen(caller.subject, args["reason"], locked_through=lock.locked_through),
            command_id=args["command_id"], reads=LOCK)
        return self._week_result(outcome)

    @rpc
    def lock_period(self, **kwargs):
        args = load(s.LockPeriodSchema, kwargs)
        caller = self.chronicle.caller
        access.admin_only(caller, "locking a period")
        margin = int(cfg.number(self.chronicle.kit.config, "LOCK_MAX_DAYS_AHEAD", LOCK_MAX_DAYS_AHEAD))
        today = _today()
        outcome = self.chronicle.execute(
            PeriodLock, "global", lambda lock: lock.lock(args["through_date"], caller.subject, today, margin),
            command_id=args["command_id"])
        return {"locked_through": outcome.aggregate.locked_through, "position": outcome.position}

    @rpc
    def unlock_period(self, **kwargs):
        args = load(s.UnlockPeriodSchema, kwargs)
        caller = self.chronicle.caller
        access.admin_only(caller, "unlocking a period")
        outcome = self.chronicle.execute(
            PeriodLock, "global", lambda lock: lock.unlock(args["through_date"], args["reason"], caller.subject),
            command_id=args["command_id"])
        return {"locked_through": outcome.aggregate.locked_through, "position": outcome.position}

    # -- queries --------------------------------------------------------------------------------
    def _week_result(self, outcome):
        return {**self._week_view(outcome.aggregate, self._locked_through()), "position": outcome.position}

    def _week_view(self, ts: Timesheet, locked_through) -> dict:
        project_hours = ts.project_hours()
        ids = list(project_hours)  # the week's projects only: never a scan of every project known
        codes = self.chronicle.query(lambda db: {r[0]: r[1] for r in db.execute(
            f"SELECT project_id, code FROM ts_projects WHERE project_id IN ({','.join('?' * len(ids))})", ids)})
        daily = {day: 0 for day in week_days(ts.week)}
        for entry in ts.entries.values():
            daily[entry["date"]] += entry["hours"]
        projects = []
        for pid, totals in project_hours.items():
            projects.append({
                "project_id": pid, "project_code": codes.get(pid), "hours": hours(totals["hours"]),
                "billable_hours": hours(totals["billable_hours"]), **ts.line_approval(pid),
            })
        entries = sorted((ts.entry_view(eid) for eid in ts.entries), key=lambda e: (e["date"], e["id"]))
        return {
            "employee_id": ts.employee_id, "week": ts.week, "status": ts.status,
            "editable": ts.editable(locked_through), "entries": entries, "total_hours": hours(ts.total()),
            "daily_totals": {day: hours(v) for day, v in daily.items()}, "projects": projects,
            "version": ts.version,
        }

    @rpc
    def period_lock(self, **kwargs):
        load(s.PeriodLockSchema, kwargs)
        access.any_person(self.chronicle.caller, "the period lock")
        trail = [{"type": e.type, "through_date": e.data["through_date"],
                  "previous_through_date": e.data.get("previous_through_date"), "reason": e.data.get("reason"),
                  "actor": e.metadata.get("actor") or e.data.get("actor_id"), "at": e.recorded_at.isoformat(),
                  "position": e.position}
                 for e in self.chronicle.stream(PeriodLock("global").stream)]
        return {"locked_through": trail[-1]["through_date"] if trail else None, "history": trail}

    def _require_reader(self, args, what):
        caller = self.chronicle.caller
        access.read_week(caller, args["employee_id"],
                         lambda: self._decides_in(caller.subject, args["employee_id"], args["week"]), what)

    @rpc
    def get_timesheet(self, **kwargs):
        args = load(s.GetTimesheetSchema, kwargs)
        self._require_reader(args, "reading a week")
        self.chronicle.wait_for(args["min_position"])
        ts = self.chronicle.load(Timesheet, timesheet_id(args["employee_id"], args["week"]), as_of=args["as_of"])
        return self._week_view(ts, self._locked_through(as_of=args["as_of"]))

    @rpc
    def pending_approvals(self, **kwargs):
        args = load(s.PendingApprovalsSchema, kwargs)
        approver = access.approval_queue(self.chronicle.caller, args["approver_id"])

        def read(db):
            # The lines of the projects the approver manages, or approves for as a delegate (if the delegation
            # covers the week); never the approver's own hours.
            rows = db.execute(
                "SELECT l.employee_id, l.week, l.project_id, p.code, p.manager_id,"
                " (SELECT COALESCE(SUM(hours), 0) FROM ts_entries e WHERE e.employee_id = l.employee_id"
                "  AND e.week = l.week AND e.project_id = l.project_id AND e.deleted = 0) AS hours"
                " FROM ts_lines l JOIN ts_weeks w ON w.employee_id = l.employee_id AND w.week = l.week"
                " JOIN ts_projects p ON p.project_id = l.project_id"
                " WHERE w.phase = 'submitted' AND l.status = 'pending' AND l.employee_id != ?1 AND (p.manager_id = ?1"
                "  OR EXISTS (SELECT 1 FROM ts_delegations d WHERE d.delegate_id = ?1 AND d.project_id = p.project_id"
                "   AND d.manager_id = p.manager_id))"
                " ORDER BY l.week, l.employee_id, p.code", (approver,)).fetchall()
            weeks: dict = {}
            for r in rows:
                if r["manager_id"] != approver and not authority(db, approver, [r["project_id"]], r["week"]):
                    continue  # a delegation whose range has no day in this week
                item = weeks.setdefault((r["employee_id"], r["week"]), {
                    "employee_id": r["employee_id"], "week": r["week"], "hours": 0, "projects": []})
                item["projects"].append({"project_id": r["project_id"], "project_code": r["code"],
                                         "hours": hours(r["hours"])})
                item["hours"] += r["hours"]
            return [{**w, "hours": hours(w["hours"])} for w in weeks.values()]

        self.chronicle.catch_up()
        return self.chronicle.query(read, min_position=args["min_position"])

    def _manages_project(self, person, project_id) -> bool:
        def manages(db):
            return db.execute("SELECT 1 FROM ts_projects WHERE project_id = ? AND manager_id = ?",
                              (project_id, person)).fetchone()

        try:
            return bool(self.chronicle.ensure(manages, "project", _NotYet()))
        except _NotYet:
            return False

    @rpc
    def project_hours(self, **kwargs):
        args = load(s.ProjectHoursSchema, kwargs)
        if args["from_date"] and args["to_date"] and args["from_date"] > args["to_date"]:
            raise ValidationError({"to_date": ["Must be on or after from_date."]})
        caller = self.chronicle.caller
        access.project_report(caller, lambda: self._manages_project(caller.subject, args["project_id"]))
        where, params = [LIVE, "e.project_id = ?"], [args["project_id"]]
        if args["from_date"]:
            where.append("e.date >= ?")
            params.append(args["from_date"])
        if args["to_date"]:
            where.append("e.date <= ?")
            params.append(args["to_date"])

        def read(db):
            rows = db.execute(
                f"SELECT e.employee_id, e.task_id, t.name AS task_name, e.hours, e.billable,"
                f" {ENTRY_STATUS_SQL} AS status {ENTRY_JOINS} WHERE {' AND '.join(where)}", params).fetchall()
            total = approved = billable = 0
            by_employee: dict = {}
            by_task: dict = {}
            for r in rows:
                ok = r["status"] == "approved"
                total += r["hours"]
                approved += r["hours"] if ok else 0
                billable += r["hours"] if r["billable"] else 0
                emp = by_employee.setdefault(r["employee_id"], [0, 0, 0])
                task = by_task.setdefault(r["task_id"], [r["task_name"], 0, 0])
                emp[0] += r["hours"]
                emp[1] += r["hours"] if ok else 0
                emp[2] += r["hours"] if r["billable"] else 0
                task[1] += r["hours"]
                task[2] += r["hours"] if ok else 0
            return {
                "project_id": args["project_id"], "from_date": args["from_date"], "to_date": args["to_date"],
                "total_hours": hours(total), "approved_hours": hours(approved), "billable_hours": hours(billable),
                "by_employee": [{"employee_id": k, "hours": hours(v[0]), "approved_hours": hours(v[1]),
                                 "billable_hours": hours(v[2])} for k, v in sorted(by_employee.items())],
                "by_task": [{"task_id": k, "task_name": v[0], "hours": hours(v[1]), "approved_hours": hours(v[2])}
                            for k, v in sorted(by_task.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))],
            }

        self.chronicle.catch_up()
        return self.chronicle.query(read, min_position=args["min_position"])

    @rpc
    def export_hours(self, **kwargs):
        args = load(s.ExportHoursSchema, kwargs)
        if args["from_date"] > args["to_date"]:
            raise ValidationError({"to_date": ["Must be on or after from_date."]})
        access.hours_export(self.chronicle.caller)

        after = _export_key(args["after"])
        order = "e.date, e.employee_id, COALESCE(p.code, ''), e.entry_id"  # the export's order, and its page key

        def read(db):
            sql = (f"SELECT e.entry_id, e.employee_id, e.project_id, p.code AS project_code, e.task_id,"
                   f" t.name AS task_name, e.date, e.hours, e.billable, e.description,"
                   f" {ENTRY_STATUS_SQL} AS status, l.approved_by, l.approved_at {ENTRY_JOINS}"
                   f" WHERE {LIVE} AND e.date >= ? AND e.date <= ?")
            params = [args["from_date"], args["to_date"]]
            if args["status"] != "all":
                sql += f" AND ({ENTRY_STATUS_SQL}) = ?"
                params.append(args["status"])
            if after is not None:
                sql += f" AND ({order}) > (?, ?, ?, ?)"
                params += after
            sql += f" ORDER BY {order}"
            if args["limit"] is not None:
                sql += " LIMIT ?"
                params.append(args["limit"])
            rows = [dict(r) for r in db.execute(sql, params)]
            for r in rows:
                r["hours"], r["billable"] = hours(r["hours"]), bool(r["billable"])
                if r["status"] != "approved":
                    r["approved_by"] = r["approved_at"] = None
            return [{k: r[k] for k in EXPORT_COLUMNS} for r in rows]

        self.chronicle.catch_up()
        rows = self.chronicle.query(read, min_position=args["min_position"])
        if args["format"] == "json":
            last = rows[-1] if rows and args["limit"] is not None and len(rows) == args["limit"] else None
            next_key = json.dumps([last["date"], last["employee_id"], last["project_code"] or "", last["entry_id"]]) \
                if last else None
            return {"rows": rows, "count": len(rows), "columns": list(EXPORT_COLUMNS), "next": next_key}
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for r in rows:
            writer.writerow(["" if r[k] is None else ("true" if r[k] is True else "false" if r[k] is False else r[k])
                             for k in EXPORT_COLUMNS])
        return buffer.getvalue()

    @rpc
    def history(self, **kwargs):
        args = load(s.HistorySchema, kwargs)
        self._require_reader(args, "a week's history")
        ts = Timesheet(timesheet_id(args["employee_id"], args["week"]))
        trail = []
        for event in self.chronicle.stream(ts.stream):
            before = ts.status
            old_entry = dict(ts.entries.get(event.data.get("entry_id"), {})) if event.data.get("entry_id") else None
            ts.apply(event)
            ts.version = event.version
            d = event.data
            # The recorded actor; never guessed (an amendment without a known actor shows null).
            actor = event.metadata.get("actor") or d.get("approver_id") or d.get("actor_id")
            item = {"version": event.version, "position": event.position, "type": event.type,
                    "at": event.recorded_at.isoformat(), "actor": actor, "reason": d.get("reason"),
                    "status_before": before, "status_after": ts.status, "changes": {}}
            if event.type in ("TimeLogged", "TimeEntryAmended", "TimeEntryDeleted"):
                item["entry_id"] = d["entry_id"]
                old = {k: (hours(v) if k == "hours" else v) for k, v in (old_entry or {}).items()}
                new = {k: d.get(k) for k in ENTRY_FIELDS} if event.type != "TimeEntryDeleted" else {}
                for k in ENTRY_FIELDS:
                    if k in ("entry_id", "employee_id", "week") and event.type == "TimeEntryAmended":
                        continue
                    if old.get(k) != new.get(k):
                        item["changes"][k] = {"old": old.get(k), "new": new.get(k)}
                for extra in ("moved_from_week", "moved_to_week"):
                    if d.get(extra):
                        item[extra] = d[extra]
            elif event.type in ("TimesheetApproved", "TimesheetRejected"):
                item["project_ids"] = d["project_ids"]
                item["on_behalf_of"] = d.get("on_behalf_of")  # the manager a delegate decided for
                if d.get("self_approval_override"):
                    item["self_approval_override"] = True
            if before != ts.status:
                item["changes"]["status"] = {"old": before, "new": ts.status}
            trail.append(item)
        return {"employee_id": args["employee_id"], "week": args["week"], "events": trail, "version": ts.version}
