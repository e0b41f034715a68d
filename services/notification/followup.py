"""Follow-up rules (issue 17), pure: no nameko, no I/O, no clock (``today`` and times come in as arguments).

- ``ApprovalChase``: a submitted week still waiting for its managers after more than ``APPROVAL_WAIT_DAYS``
  working days; each manager is told once per submission.
- ``MissedHours``: the weekly check of who missed their hours two weeks in a row; a run of such weeks is told once.
"""
from __future__ import annotations

from datetime import date, timedelta

from shared.aggregate import Aggregate

from .domain import week_dates, week_of

APPROVAL_WAIT_DAYS = 3  # working days (Monday to Friday) a submitted week may wait before its managers are chased


def working_days_waited(submitted_on: date, today: date) -> int:
    """Working days (Monday to Friday) after the day of submission, up to and including ``today``."""
    if today <= submitted_on:
        return 0
    weeks, rest = divmod((today - submitted_on).days, 7)
    days = weeks * 5
    for offset in range(1, rest + 1):
        if (submitted_on + timedelta(days=offset)).isoweekday() <= 5:
            days += 1
    return days


def approval_overdue(submitted_on: date, today: date, limit: int = APPROVAL_WAIT_DAYS) -> bool:
    """Waiting *more than* ``limit`` working days: submitted on a Friday, the managers are chased on Thursday."""
    return working_days_waited(submitted_on, today) > limit


def previous_week(week: str) -> str:
    return week_of(week_dates(week)[0] - timedelta(days=7))


class ApprovalChase(Aggregate):
    """The chases of one employee's week (``approvals_<employee>_<2026W48>``). A submission is the
    ``TimesheetSubmitted`` event's id: a week rejected (or reopened) and submitted again is chased again."""

    category = "notification"

    def __init__(self, id):
        super().__init__(id)
        self.chased: set[tuple[str, str]] = set()  # (submission id, manager id)

    @staticmethod
    def id_for(employee_id: str, week: str) -> str:
        return f"approvals_{employee_id}_{week.replace('-', '')}"

    def chase(self, *, employee_id, week, submission_id, submitted_on: str, waiting: list[dict], today: date):
        """``waiting``: [{manager_id, project_ids}] still owed a decision; those chased already are left out."""
        new = sorted(({"manager_id": w["manager_id"], "project_ids": sorted(w["project_ids"])} for w in waiting
                      if w["manager_id"] and (submission_id, w["manager_id"]) not in self.chased),
                     key=lambda w: w["manager_id"])
        if not new:
            return
        self.record("ApprovalsOverdue", employee_id=employee_id, week=week, submission_id=submission_id,
                    submitted_on=submitted_on, working_days=working_days_waited(date.fromisoformat(submitted_on),
                                                                                today),
                    managers=new, detected_on=today.isoformat())

    def on_ApprovalsOverdue(self, data):
        self.chased |= {(data["submission_id"], m["manager_id"]) for m in data["managers"]}


class MissedHours(Aggregate):
    """The check of one week (``missedhours_<2026W48>``): who missed their hours that week and the week before.
    Checked once; the week before's check says whether a run goes on (told already) or starts (told now)."""

    category = "notification"

    def __init__(self, week):
        super().__init__(f"missedhours_{week.replace('-', '')}")
        self.week = week
        self.checked = False
        self.runs: dict[str, str] = {}  # employee id -> the first week of their run

    def check(self, found: list[dict], previous: MissedHours, checked_at: str):
        """``found``: [{employee_id, weeks: [{week, logged_hours, expected_hours}] (the week before, then this),
        manager_ids}] of those below their hours both weeks. ``previous``: the week before's check."""
        if self.checked:
            return
        before = previous_week(self.week)
        employees = []
        for f in sorted(found, key=lambda f: f["employee_id"]):
            run_from = previous.runs.get(f["employee_id"], before)
            employees.append({**f, "manager_ids": sorted(set(f["manager_ids"])), "run_from": run_from,
                              "new_run": run_from == before})
        self.record("HoursMissedInARow", week=self.week, previous_week=before, employees=employees,
                    checked_at=checked_at)

    def on_HoursMissedInARow(self, data):
        self.checked = True
        self.runs = {e["employee_id"]: e["run_from"] for e in data["employees"]}
