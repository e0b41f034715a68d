"""The follow-up timer's work (issue 17), given the kit handle and the times (``now``: the wall clock, recorded on
events; ``calendar_now``: the service's clock, fixed in tests, that says what day it is). The reactor tells people
from the events recorded here (``followup_notices.py``)."""
from __future__ import annotations

from datetime import datetime, time

from shared import config as cfg

from .domain import iso, reminder_week_due
from .followup import ApprovalChase, MissedHours, previous_week
from .followup_views import missed_two_weeks, overdue_approvals


def follow_up_by_timer(chronicle, now: datetime, calendar_now: datetime) -> dict:
    return {"approvals": chase_approvals(chronicle, calendar_now),
            "missed_hours": check_missed_hours(chronicle, now, calendar_now)}


def chase_approvals(chronicle, calendar_now: datetime) -> list[str]:
    """Every submission waiting too long, for the managers not told yet: one ``ApprovalsOverdue`` each."""
    today = calendar_now.date()
    max_age = int(cfg.number(chronicle.config, "APPROVAL_CHASE_MAX_AGE_DAYS", 28))
    if not chronicle.query(lambda db: overdue_approvals(db, today, max_age)):
        return []
    # Something is due: decide on the freshest facts (an approval may be on its way), as the reminders do.
    chronicle.pull_all()
    chronicle.catch_up()
    chased = []
    for due in chronicle.query(lambda db: overdue_approvals(db, today, max_age)):
        managers = "+".join(w["manager_id"] for w in due["waiting"])
        outcome = chronicle.execute(
            ApprovalChase, ApprovalChase.id_for(due["employee_id"], due["week"]),
            lambda c, due=due: c.chase(employee_id=due["employee_id"], week=due["week"],
                                       submission_id=due["submission_id"], submitted_on=due["submitted_on"],
                                       waiting=due["waiting"], today=today),
            command_id=f"approvals-overdue:{due['submission_id']}:{managers}", actor="notification")
        if outcome.events:
            chased.append(due["submission_id"])
    return chased


def check_missed_hours(chronicle, now: datetime, calendar_now: datetime) -> str | None:
    """Once per week, at the reminders' moment (``REMINDER_WEEKDAY``/``REMINDER_TIME``): who missed their hours
    in the week just due and the week before. Returns the week checked now, else None."""
    weekday = int(cfg.number(chronicle.config, "REMINDER_WEEKDAY", 1))
    at = time.fromisoformat(str(cfg._get(chronicle.config, "REMINDER_TIME", "09:00")))
    week = reminder_week_due(calendar_now, weekday, at)
    if week is None or chronicle.load(MissedHours, week).checked:
        return None
    chronicle.pull_all()  # the freshest facts, as the reminders take them
    chronicle.catch_up()
    found = chronicle.query(lambda db: missed_two_weeks(db, week))
    chronicle.execute(MissedHours, week, lambda m, before: m.check(found, before, iso(now)),
                      command_id=f"missedhours:timer:{week}", actor="notification",
                      reads=[(MissedHours, previous_week(week))])
    return week
