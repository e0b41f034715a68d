"""The timesheet domain: one employee-week and the global period lock (corrections after the lock:
``corrections.py``, mixed into the week).

Pure: commands check rules and record events, ``on_<Event>`` only mutates. Project facts and
the lock come in as plain values (``ProjectFacts``, ``locked_through``) so the rules are tested
without I/O. Hours are integer centi-hours inside and JSON numbers (``hours()``) in events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from shared.aggregate import Aggregate
from shared.errors import Forbidden, NotFound, RuleViolation
from shared.validation import hours, week_days, week_of

DAY_LIMIT = 2400  # centi-hours: 24 h per employee-day
LOCK_MAX_DAYS_AHEAD = 7  # a lock reaches at most this many days beyond today (LOCK_MAX_DAYS_AHEAD)

# Week status (what callers see) and the phase it is derived from.
OPEN, SUBMITTED, PARTIALLY_APPROVED, APPROVED, REJECTED = (
    "open", "submitted", "partially_approved", "approved", "rejected")
EDITABLE = (OPEN, REJECTED)
# Project line status while the week is submitted.
PENDING, LINE_APPROVED, LINE_REJECTED = "pending", "approved", "rejected"

ENTRY_FIELDS = ("entry_id", "employee_id", "week", "project_id", "task_id", "date", "hours", "billable", "description")


def centi(value) -> int:
    """A JSON number of hours from an event -> centi-hours (exact)."""
    return int(Decimal(str(value)) * 100)


def week_key(week: str) -> str:
    """2026-W48 -> 2026W48 (the stream id part)."""
    return week.replace("-", "")


def timesheet_id(employee_id: str, week: str) -> str:
    return f"{employee_id}_{week_key(week)}"


def date_locked(day: str, locked_through: str | None) -> bool:
    """A lock through a date locks the entries dated on or before it (not whole weeks)."""
    return bool(locked_through) and day <= locked_through


def week_locked(week: str, locked_through: str | None) -> bool:
    """Every day of the week is locked (a week that straddles the lock is not: its later days take entries)."""
    return date_locked(week_days(week)[-1], locked_through)


def open_day(today: date, locked_through: str | None) -> str:
    """The day a correction is booked on (``booked_on``): today, or the first day after the lock if the lock
    reaches beyond today. Always in the open period."""
    first_open = (date.fromisoformat(locked_through) + timedelta(days=1)) if locked_through else today
    return max(today, first_open).isoformat()


@dataclass
class TaskFacts:
    task_id: str
    name: str = ""
    billable: bool | None = None
    open: bool = True


@dataclass
class ProjectFacts:
    """What this service knows of a project from the project service's events."""

    project_id: str
    code: str = ""
    name: str = ""
    status: str = "active"
    manager_id: str | None = None
    starts_on: str | None = None
    ends_on: str | None = None
    billable: bool = True
    members: set = field(default_factory=set)
    tasks: dict = field(default_factory=dict)  # task_id -> TaskFacts


def check_project(project: ProjectFacts | None, employee_id: str, task_id: str | None, day: str):
    """The project rules for an entry of ``employee_id`` on ``day``."""
    if project is None:
        raise RuleViolation("the project is not known", code="timesheet.project_unknown")
    if project.status != "active":
        raise RuleViolation(f"the project is {project.status}, not active", code="timesheet.project_not_active")
    if employee_id not in project.members:
        raise RuleViolation("the employee is not a member of the project", code="timesheet.not_a_member")
    if task_id is not None:
        task = project.tasks.get(task_id)
        if task is None:
            raise RuleViolation("the task does not belong to the project", code="timesheet.task_not_in_project")
        if not task.open:
            raise RuleViolation("the task is closed", code="timesheet.task_closed")
    if project.starts_on and day < project.starts_on:
        raise RuleViolation(f"the project starts on {project.starts_on}", code="timesheet.before_project_start")
    if project.ends_on and day > project.ends_on:
        raise RuleViolation(f"the project ended on {project.ends_on}", code="timesheet.after_project_end")


def _require_reason(reason, what):
    if not reason or not str(reason).strip():
        raise RuleViolation(f"{what} needs a reason", code="timesheet.reason_required")


def entry_status(phase: str, line_status: str | None) -> str:
    """An entry's approval status, from its week's phase and its project line's status (None: no line): the one
    place it is worked out (``Timesheet.entry_status``, and the read model stores it: ``TimesheetsView``)."""
    if phase != SUBMITTED:
        return phase
    return {LINE_APPROVED: APPROVED, LINE_REJECTED: REJECTED}.get(line_status, SUBMITTED)


def default_billable(project: ProjectFacts, task_id: str | None, billable: bool | None) -> bool:
    if billable is not None:
        return bool(billable)
    task = project.tasks.get(task_id) if task_id else None
    if task is not None and task.billable is not None:
        return bool(task.billable)
    return bool(project.billable)


from .corrections import Corrections  # noqa: E402  (a mixin over the helpers above)


class Timesheet(Corrections, Aggregate):
    """One employee-week: its entries and their approval state."""

    category = "timesheet"

    def __init__(self, id):
        super().__init__(id)
        employee_id, key = str(id).rsplit("_", 1)
        self.employee_id = employee_id
        self.week = f"{key[:4]}-{key[4:]}"
        self.entries: dict[str, dict] = {}  # entry_id -> entry (hours in centi)
        self.phase = OPEN  # open | submitted | rejected
        self.lines: dict[str, dict] = {}  # project_id -> {status, manager_id, approved_by, approved_at}
        self.invoiced: dict[str, str] = {}  # entry_id -> invoice_ref (mark_invoiced; a correction clears it)

    # -- derived state ------------------------------------------------------------------------
    @property
    def status(self) -> str:
        if self.phase != SUBMITTED:
            return self.phase
        states = [line["status"] for line in self.lines.values()]
        if states and all(s == LINE_APPROVED for s in states):
            return APPROVED
        if any(s == LINE_APPROVED for s in states):
            return PARTIALLY_APPROVED
        return SUBMITTED

    def day_total(self, day: str, excluding: str | None = None) -> int:
        return sum(e["hours"] for e in self.entries.values() if e["date"] == day and e["entry_id"] != excluding)

    def project_hours(self) -> dict[str, dict]:
        """project_id -> {hours, billable_hours} in centi-hours, in first-logged order."""
        out: dict[str, dict] = {}
        for entry in self.entries.values():
            line = out.setdefault(entry["project_id"], {"hours": 0, "billable_hours": 0})
            line["hours"] += entry["hours"]
            line["billable_hours"] += entry["hours"] if entry["billable"] else 0
        return out

    def total(self) -> int:
        return sum(e["hours"] for e in self.entries.values())

    def entry_status(self, entry: dict) -> str:
        return entry_status(self.phase, self.lines.get(entry["project_id"], {}).get("status"))

    def editable(self, locked_through: str | None = None) -> bool:
        """Entries may change: the week is open or rejected, and not every day of it is locked."""
        return self.status in EDITABLE and not week_locked(self.week, locked_through)

    def line_approval(self, project_id: str) -> dict:
        """A project line's status, with who approved it and when only while it is approved (a week rejected
        as a whole takes back the approvals of its other lines)."""
        line = self.lines.get(project_id, {})
        status = self.entry_status({"project_id": project_id})
        approved = status == APPROVED
        return {"status": status, "approved_by": line.get("approved_by") if approved else None,
                "approved_at": line.get("approved_at") if approved else None}

    def entry_view(self, entry_id: str) -> dict:
        entry = self.entries[entry_id]
        return {**entry, "id": entry_id, "hours": hours(entry["hours"]), "status": self.entry_status(entry),
                "invoice_ref": self.invoiced.get(entry_id)}

    # -- rules ----------------------------------------------------------------------------------
    def _require_editable(self):
        if self.status not in EDITABLE:
            raise RuleViolation(f"the week {self.week} is {self.status}; reopen it first",
                                code="timesheet.week_closed")

    def _require_unlocked(self, locked_through, *days):
        """The days (an entry's date, before and after a change) are not locked; no days: the whole week."""
        if any(date_locked(day, locked_through) for day in days) or week_locked(self.week, locked_through):
            raise RuleViolation(f"the period through {locked_through} is locked", code="timesheet.period_locked")

    def _require_not_invoiced(self, entry_id):
        if entry_id in self.invoiced:
            raise RuleViolation(f"entry {entry_id} is invoiced ({self.invoiced[entry_id]}): correct it instead",
                                code="timesheet.entry_invoiced")

    def _require_entry(self, entry_id) -> dict:
        entry = self.entries.get(entry_id)
        if entry is None:
            raise NotFound(f"entry {entry_id} not found in {self.week}", code="timesheet.entry_not_found")
        return entry

    def _require_day_room(self, day: str, centi_hours: int, excluding: str | None = None):
        total = self.day_total(day, excluding) + centi_hours
        if total > DAY_LIMIT:
            raise RuleViolation(
                f"{hours(total)} hours on {day} would exceed 24", code="timesheet.day_over_24h")

    def _event_entry(self, entry: dict) -> dict:
        return {k: (hours(entry[k]) if k == "hours" else entry[k]) for k in ENTRY_FIELDS}

    # -- commands -------------------------------------------------------------------------------
    def log(self, entry_id, project: ProjectFacts | None, day: str, centi_hours: int, task_id=None,
            description="", billable=None, locked_through=None, moved_from_week=None):
        if week_of(day) != self.week:
            raise RuleViolation(f"{day} is not in {self.week}", code="timesheet.date_not_in_week")
        if entry_id in self.entries:
            raise RuleViolation(f"entry {entry_id} exists already", code="timesheet.entry_exists")
        self._require_unlocked(locked_through, day)
        self._require_editable()
        check_project(project, self.employee_id, task_id, day)
        self._require_day_room(day, centi_hours)
        data = {
            "entry_id": entry_id, "employee_id": self.employee_id, "week": self.week,
            "project_id": project.project_id, "task_id": task_id, "date": day, "hours": hours(centi_hours),
            "billable": default_billable(project, task_id, billable), "description": description or "",
        }
        if moved_from_week:
            data["moved_from_week"] = moved_from_week
        self.record("TimeLogged", **data)

    def amend(self, entry_id, project: ProjectFacts | None, changes: dict, reason=None, locked_through=None):
        """``changes``: any of hours (centi), date (same week), task_id, description, billable."""
        entry = self._require_entry(entry_id)
        self._require_unlocked(locked_through, entry["date"], changes.get("date", entry["date"]))
        self._require_not_invoiced(entry_id)
        self._require_editable()
        new = {**entry, **changes}
        if "task_id" in changes and "billable" not in changes and changes["task_id"] != entry["task_id"]:
            new["billable"] = default_billable(project, new["task_id"], None) if project else entry["billable"]
        if week_of(new["date"]) != self.week:
            raise RuleViolation(f"{new['date']} is not in {self.week}", code="timesheet.date_not_in_week")
        previous = {k: entry[k] for k in ENTRY_FIELDS if new[k] != entry[k]}
        if not previous:
            return  # nothing changes: nothing to record
        check_project(project, self.employee_id, new["task_id"], new["date"])
        self._require_day_room(new["date"], new["hours"], excluding=entry_id)
        if "hours" in previous:
            previous["hours"] = hours(previous["hours"])
        self.record("TimeEntryAmended", **self._event_entry(new), previous=previous, reason=reason)

    def delete(self, entry_id, reason=None, locked_through=None, moved_to_week=None):
        entry = self._require_entry(entry_id)
        self._require_unlocked(locked_through, entry["date"])
        self._require_not_invoiced(entry_id)
        self._require_editable()
        data = {k: v for k, v in self._event_entry(entry).items() if k != "description"}
        data["reason"] = reason
        if moved_to_week:
            data["moved_to_week"] = moved_to_week
        self.record("TimeEntryDeleted", **data)

    def submit(self, managers: dict | None = None, actor_id=None):
        """``managers``: project_id -> manager_id, as known now (recorded for approvers and consumers)."""
        if self.status not in EDITABLE:
            raise RuleViolation(f"the week {self.week} is {self.status}, not open",
                                code="timesheet.not_open")
        managers = managers or {}
        projects = [
            {"project_id": pid, "hours": hours(line["hours"]), "billable_hours": hours(line["billable_hours"]),
             "manager_id": managers.get(pid)}
            for pid, line in self.project_hours().items()
        ]
        self.record("TimesheetSubmitted", employee_id=self.employee_id, week=self.week,
                    total_hours=hours(self.total()), projects=projects, actor_id=actor_id or self.employee_id)

    def _targets(self, approver_id, authority: dict, project_id, wanted: tuple) -> list[str]:
        """``authority``: project_id -> on whose behalf ``approver_id`` decides its line (None: their own right,
        as its manager or an admin; a manager's id: as that manager's delegate)."""
        if self.status not in (SUBMITTED, PARTIALLY_APPROVED):
            raise RuleViolation(f"the week {self.week} is {self.status}, not submitted",
                                code="timesheet.not_submitted")
        mine = [pid for pid in self.lines if pid in authority]
        if project_id is not None:
            if project_id not in self.lines:
                raise RuleViolation(f"project {project_id} has no hours in {self.week}",
                                    code="timesheet.project_not_in_week")
            if project_id not in authority:
                raise Forbidden(f"{approver_id} does not manage project {project_id}", code="auth.not_manager")
            mine = [project_id]
        if not mine:
            raise Forbidden(f"{approver_id} manages none of the projects of {self.week}", code="auth.not_manager")
        targets = [pid for pid in mine if self.lines[pid]["status"] in wanted]
        if not targets:
            raise RuleViolation("those project lines are already decided", code="timesheet.already_decided")
        return targets

    def _decisions(self, approver_id, authority: dict, project_id, wanted: tuple, admin: bool):
        """The lines to decide, grouped by on whose behalf: [(on_behalf_of, [project_id, ...])], and the fields
        every decision records. Nobody decides on their own hours, unless an admin, and then it says so."""
        own = approver_id == self.employee_id
        if own and not admin:
            raise Forbidden("nobody approves or rejects their own hours", code="auth.self_approval")
        targets = self._targets(approver_id, authority, project_id, wanted)
        groups: dict = {}
        for pid in targets:
            groups.setdefault(authority[pid], []).append(pid)
        extra = {"self_approval_override": True} if own else {}
        return list(groups.items()), extra

    def approve(self, approver_id, authority: dict, project_id=None, at: str | None = None, admin=False):
        decisions, extra = self._decisions(approver_id, authority, project_id, (PENDING,), admin)
        per_project = self.project_hours()
        for on_behalf_of, targets in decisions:  # one event per authority: each says for whom it was decided
            after = {pid: (LINE_APPROVED if pid in targets else line["status"]) for pid, line in self.lines.items()}
            status = APPROVED if all(s == LINE_APPROVED for s in after.values()) else PARTIALLY_APPROVED
            self.record("TimesheetApproved", employee_id=self.employee_id, week=self.week, approver_id=approver_id,
                        on_behalf_of=on_behalf_of, project_ids=targets, status=status, approved_at=at,
                        lines=[{"project_id": pid, "hours": hours(per_project.get(pid, {}).get("hours", 0)),
                                "billable_hours": hours(per_project.get(pid, {}).get("billable_hours", 0))}
                               for pid in targets], **extra)

    def reject(self, approver_id, authority: dict, reason: str, project_id=None, admin=False):
        _require_reason(reason, "a rejection")
        decisions, extra = self._decisions(approver_id, authority, project_id, (PENDING, LINE_APPROVED), admin)
        per_project = self.project_hours()
        for on_behalf_of, targets in decisions:
            # The whole week goes back to the employee: every line approved so far loses its approval.
            revoked = sorted(pid for pid, line in self.lines.items() if line["status"] == LINE_APPROVED)
            self.record("TimesheetRejected", employee_id=self.employee_id, week=self.week, approver_id=approver_id,
                        on_behalf_of=on_behalf_of, reason=reason, project_ids=targets, status=REJECTED,
                        revoked_project_ids=revoked,
                        lines=[{"project_id": pid, "hours": hours(per_project.get(pid, {}).get("hours", 0))}
                               for pid in targets], **extra)

    def reopen(self, actor_id, reason, locked_through=None):
        if self.status == OPEN:
            raise RuleViolation(f"the week {self.week} is open already", code="timesheet.not_submitted")
        _require_reason(reason, "reopening a week")
        # Reopening changes every entry's status: refused while any of them (or the whole week) is locked.
        self._require_unlocked(locked_through, *(e["date"] for e in self.entries.values()))
        self.record("TimesheetReopened", employee_id=self.employee_id, week=self.week, actor_id=actor_id,
                    reason=reason, from_status=self.status, total_hours=hours(self.total()),
                    projects=[{"project_id": pid, "hours": hours(v["hours"])}
                              for pid, v in self.project_hours().items()])

    # -- mutations ------------------------------------------------------------------------------
    def on_TimeLogged(self, data):
        self.entries[data["entry_id"]] = {k: data.get(k) for k in ENTRY_FIELDS} | {"hours": centi(data["hours"])}

    def on_TimeEntryAmended(self, data):
        self.entries[data["entry_id"]] = {k: data.get(k) for k in ENTRY_FIELDS} | {"hours": centi(data["hours"])}

    def on_TimeEntryDeleted(self, data):
        self.entries.pop(data["entry_id"], None)
        self.invoiced.pop(data["entry_id"], None)

    def on_TimesheetSubmitted(self, data):
        self.phase = SUBMITTED
        self.lines = {
            p["project_id"]: {"status": PENDING, "manager_id": p.get("manager_id"),
                              "approved_by": None, "approved_at": None}
            for p in data["projects"]
        }

    def on_TimesheetApproved(self, data):
        for pid in data["project_ids"]:
            self.lines[pid].update(status=LINE_APPROVED, approved_by=data["approver_id"],
                                   approved_at=data.get("approved_at"))

    def on_TimesheetRejected(self, data):
        for pid in data["project_ids"]:
            self.lines[pid].update(status=LINE_REJECTED, approved_by=None, approved_at=None)
        self.phase = REJECTED

    def on_TimesheetReopened(self, data):
        self.phase = OPEN
        self.lines = {}


class PeriodLock(Aggregate):
    """The global lock (stream ``timesheetlock-global``): no changes to entries dated on or before
    ``locked_through`` (``date_locked``; ``PeriodLocked`` v1 locked whole weeks and is upcast to v2's dates).
    Locking is bounded by the calendar (never beyond ``today`` plus a margin), and an unlock moves it back."""

    category = "timesheetlock"

    def __init__(self, id="global"):
        super().__init__(id)
        self.locked_through: str | None = None

    def lock(self, through_date: str, actor_id: str, today: date, max_days_ahead: int = LOCK_MAX_DAYS_AHEAD):
        latest = (today + timedelta(days=max_days_ahead)).isoformat()
        if through_date > latest:
            raise RuleViolation(f"a lock reaches at most {max_days_ahead} days ahead, through {latest}",
                                code="timesheet.lock_too_far_ahead")
        if self.locked_through and through_date <= self.locked_through:
            raise RuleViolation(f"the period is locked through {self.locked_through} already",
                                code="timesheet.already_locked")
        self.record("PeriodLocked", through_date=through_date, actor_id=actor_id,
                    previous_through_date=self.locked_through)

    def unlock(self, through_date: str, reason: str, actor_id: str):
        """Back to an earlier date: the weeks after ``through_date`` take changes again."""
        _require_reason(reason, "an unlock")
        if not self.locked_through or through_date >= self.locked_through:
            raise RuleViolation(f"the period is locked through {self.locked_through}: an unlock goes back to an "
                                "earlier date", code="timesheet.unlock_not_earlier")
        self.record("PeriodUnlocked", through_date=through_date, actor_id=actor_id, reason=reason,
                    previous_through_date=self.locked_through)

    def on_PeriodLocked(self, data):
        self.locked_through = data["through_date"]

    def on_PeriodUnlocked(self, data):
        self.locked_through = data["through_date"]
