"""Corrections after the lock and invoicing marks: the employee-week's commands for the month-end close.

Mixed into ``domain.Timesheet`` (pure like it: no nameko, no I/O, no clock; ``booked_on`` comes in as a value,
see ``domain.open_day``). The past is never edited: a locked or invoiced entry changes only through a
``TimeEntryCorrected`` that records the values before and after, booked on a day of the open period. A late entry
(hours forgotten in a locked period) is a correction too, with no values before.
"""
from __future__ import annotations

from shared.errors import NotFound, RuleViolation
from shared.validation import hours, week_of

CORRECTABLE = ("hours", "task_id", "billable")


def _domain():
    from . import domain  # domain imports this module: look its helpers up when a command runs

    return domain


def check_late_project(project, employee_id: str, task_id: str | None, day: str):
    """A late entry's project rules: the project is known, the employee a member, the task one of the project's
    and the day within its dates. Its status and a task's being closed are not asked: the hours were worked when
    it was open, and the correction is an admin's or its manager's."""
    if project is None:
        raise RuleViolation("the project is not known", code="timesheet.project_unknown")
    if employee_id not in project.members:
        raise RuleViolation("the employee is not a member of the project", code="timesheet.not_a_member")
    if task_id is not None and task_id not in project.tasks:
        raise RuleViolation("the task does not belong to the project", code="timesheet.task_not_in_project")
    if project.starts_on and day < project.starts_on:
        raise RuleViolation(f"the project starts on {project.starts_on}", code="timesheet.before_project_start")
    if project.ends_on and day > project.ends_on:
        raise RuleViolation(f"the project ended on {project.ends_on}", code="timesheet.after_project_end")


class Corrections:
    """The close's commands on one employee-week (``self``: a ``domain.Timesheet``)."""

    def _values(self, entry: dict, entry_id: str) -> dict:
        return {"hours": hours(entry["hours"]), "task_id": entry["task_id"], "billable": entry["billable"],
                "invoice_ref": self.invoiced.get(entry_id)}

    def correct(self, entry_id, project, changes: dict, reason, booked_on: str, locked_through=None):
        """``changes``: any of hours (centi), task_id, billable. Only for an entry that is locked or invoiced
        (anything else is amended); records nothing when nothing changes."""
        d = _domain()
        entry = self._require_entry(entry_id)
        d._require_reason(reason, "a correction")
        if not d.date_locked(entry["date"], locked_through) and entry_id not in self.invoiced:
            raise RuleViolation(f"entry {entry_id} is neither locked nor invoiced: amend it",
                                code="timesheet.not_locked")
        new = {**entry, **changes}
        if "task_id" in changes and "billable" not in changes and changes["task_id"] != entry["task_id"]:
            new["billable"] = d.default_billable(project, new["task_id"], None) if project else entry["billable"]
        if all(new[k] == entry[k] for k in CORRECTABLE):
            return
        if new["task_id"] != entry["task_id"] and new["task_id"] is not None:
            check_late_project(project, self.employee_id, new["task_id"], entry["date"])
        self._require_day_room(entry["date"], new["hours"], excluding=entry_id)
        self.record("TimeEntryCorrected", **self._event_entry(new), correction="change",
                    before=self._values(entry, entry_id), after={**self._values(new, entry_id), "invoice_ref": None},
                    reason=reason, booked_on=booked_on)

    def add_late(self, entry_id, project, day: str, centi_hours: int, reason, booked_on: str, task_id=None,
                 description="", billable=None, locked_through=None):
        """Hours of a locked day that were never logged: a correction with no values before."""
        d = _domain()
        if week_of(day) != self.week:
            raise RuleViolation(f"{day} is not in {self.week}", code="timesheet.date_not_in_week")
        if entry_id in self.entries:
            raise RuleViolation(f"entry {entry_id} exists already", code="timesheet.entry_exists")
        d._require_reason(reason, "a late entry")
        if not d.date_locked(day, locked_through):
            raise RuleViolation(f"{day} is not locked: log the hours", code="timesheet.not_locked")
        check_late_project(project, self.employee_id, task_id, day)
        self._require_day_room(day, centi_hours)
        new = {"entry_id": entry_id, "employee_id": self.employee_id, "week": self.week,
               "project_id": project.project_id, "task_id": task_id, "date": day, "hours": centi_hours,
               "billable": d.default_billable(project, task_id, billable), "description": description or ""}
        self.record("TimeEntryCorrected", **self._event_entry(new), correction="add", before=None,
                    after={**self._values(new, entry_id), "invoice_ref": None}, reason=reason, booked_on=booked_on)

    def invoice(self, entry_ids, invoice_ref: str):
        """Marks the entries of this week as billed on ``invoice_ref``; those already on it are left alone."""
        for entry_id in entry_ids:
            if entry_id not in self.entries:
                raise NotFound(f"entry {entry_id} not found in {self.week}", code="timesheet.entry_not_found")
            held = self.invoiced.get(entry_id)
            if held is not None and held != invoice_ref:
                raise RuleViolation(f"entry {entry_id} is invoiced already ({held})",
                                    code="timesheet.already_invoiced")
        fresh = [e for e in dict.fromkeys(entry_ids) if self.invoiced.get(e) != invoice_ref]
        if not fresh:
            return
        self.record("TimeEntriesInvoiced", employee_id=self.employee_id, week=self.week, invoice_ref=invoice_ref,
                    entry_ids=fresh, lines=[{k: self._event_entry(self.entries[e])[k] for k in
                                             ("entry_id", "project_id", "date", "hours", "billable")}
                                            for e in fresh])

    # -- mutations ------------------------------------------------------------------------------
    def on_TimeEntryCorrected(self, data):
        d = _domain()
        self.entries[data["entry_id"]] = {k: data.get(k) for k in d.ENTRY_FIELDS} | {"hours": d.centi(data["hours"])}
        self.invoiced.pop(data["entry_id"], None)

    def on_TimeEntriesInvoiced(self, data):
        for entry_id in data["entry_ids"]:
            self.invoiced[entry_id] = data["invoice_ref"]
