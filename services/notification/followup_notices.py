"""Who is told what about follow-up (issue 17): the ``Notifier``'s handlers of the follow-up events. A mixin, so
that each stays beside its kind; ``notify`` (the one way to notify, with preferences) is the ``Notifier``'s."""
from __future__ import annotations

from collections import defaultdict

from . import followup_views


def _hours(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


class FollowUpNotices:
    def on_ApprovalsOverdue(self, chronicle, event):
        """Each manager still owing a decision on a submitted week, once per submission."""
        d = event.data
        employee = self.name_of(chronicle, d["employee_id"])
        for waiting in d["managers"]:
            projects = ", ".join(self.project_label(chronicle, p) for p in waiting["project_ids"])
            self.notify(
                chronicle, event, waiting["manager_id"], "approval_overdue",
                f"{employee}'s timesheet for {d['week']} is waiting for your approval",
                [f"{employee} submitted the timesheet for week {d['week']} on {d['submitted_on']}; it has waited "
                 f"{d['working_days']} working days for your approval.", f"Week: {d['week']}",
                 f"Projects waiting: {projects}"],
                {"employee_id": d["employee_id"], "week": d["week"], "project_id": waiting["project_ids"][0],
                 "submission_id": d["submission_id"]},
            )

    def on_HoursMissedInARow(self, chronicle, event):
        """The managers of each employee whose run of short weeks starts here (a run goes on untold), one
        notification per manager naming every such employee."""
        d = event.data
        by_manager = defaultdict(list)
        for employee in d["employees"]:
            if employee["new_run"]:
                for manager_id in employee["manager_ids"]:
                    by_manager[manager_id].append(employee)
        for manager_id, employees in by_manager.items():
            names = [self.name_of(chronicle, e["employee_id"]) for e in employees]
            title = (f"{names[0]} missed their hours two weeks in a row" if len(names) == 1
                     else f"{len(names)} people missed their hours two weeks in a row")
            lines = [f"Below their hours (capacity minus absences, not submitted) in weeks {d['previous_week']} "
                     f"and {d['week']}:"]
            for name, e in zip(names, employees, strict=True):
                lines.append(f"- {name}: " + "; ".join(
                    f"{w['week']} {_hours(w['logged_hours'])} h of {_hours(w['expected_hours'])} h"
                    for w in e["weeks"]))
            facts = {"week": d["week"], "employee_ids": [e["employee_id"] for e in employees]}
            if len(employees) == 1:
                facts["employee_id"] = employees[0]["employee_id"]
            self.notify(chronicle, event, manager_id, "hours_missed", title, lines, facts)

    # -- milestones (the project service records MilestoneDueSoon and MilestoneMissed once each) -----------
    def _milestone(self, chronicle, event, kind, title, first_line):
        d = event.data
        project = self.project_label(chronicle, d["project_id"])
        lines = [first_line.format(name=d["name"], project=project, due_on=d["due_on"]),
                 f"Project: {project}", f"Milestone: {d['name']}", f"Due: {d['due_on']}",
                 f"Owner: {self.name_of(chronicle, d['owner_id'])}"]
        facts = {"project_id": d["project_id"], "project": project, "milestone_id": d["milestone_id"],
                 "due_on": d["due_on"], "date": d["due_on"]}
        for recipient_id in dict.fromkeys([d["owner_id"], d["manager_id"]]):  # the owner, then the manager, once
            self.notify(chronicle, event, recipient_id, kind, title.format(name=d["name"], project=project), lines,
                        facts)

    def on_MilestoneDueSoon(self, chronicle, event):
        """The owner and the project's manager, 7 days before (``days_left`` 7) and on the day (0)."""
        if event.data["days_left"] == 0:
            title, first = "Milestone {name} of {project} is due today", "Milestone {name} of {project} is due today."
        else:
            left = event.data["days_left"]
            days = "1 day" if left == 1 else f"{left} days"
            title = f"Milestone {{name}} of {{project}} is due in {days}"
            first = f"Milestone {{name}} of {{project}} is due in {days}, on {{due_on}}."
        self._milestone(chronicle, event, "milestone_due", title, first)

    def on_MilestoneMissed(self, chronicle, event):
        self._milestone(chronicle, event, "milestone_missed", "Milestone {name} of {project} was missed",
                        "Milestone {name} of {project} was due on {due_on} and is not done: it is missed.")

    # -- forecast (the project service records each crossing; a repeated state is told to nobody) -----------
    def _forecast(self, chronicle, event, kind, verb):
        d = event.data
        if not chronicle.query(lambda db: followup_views.crossed(db, event.id)):
            return
        project = self.project_label(chronicle, d["project_id"])
        phase = d.get("phase_id") and (chronicle.query(
            lambda db: followup_views.phase_name(db, d["project_id"], d["phase_id"])) or d["phase_id"])
        what = f"phase {phase} of project {project}" if phase else f"project {project}"
        unit = " h" if d["budget"] == "hours" else ""
        manager_id = d.get("manager_id") or self.project(chronicle, d["project_id"]).get("manager_id")
        self.notify(
            chronicle, event, manager_id, kind, f"{what[0].upper()}{what[1:]} is forecast {verb} its {d['budget']} budget",
            [f"The forecast at completion of {what} is {d['forecast']}{unit}, {verb} its {d['budget']} budget of "
             f"{d['budget_value']}{unit}.", f"Project: {project}", f"Phase: {phase}" if phase else None,
             f"Forecast: {d['forecast']}{unit}", f"Budget: {d['budget_value']}{unit}"],
            {"project_id": d["project_id"], "project": project, "phase_id": d.get("phase_id"),
             "budget": d["budget"], "forecast": d["forecast"], "budget_value": d["budget_value"]},
        )

    def on_ForecastOverBudget(self, chronicle, event):
        self._forecast(chronicle, event, "forecast_over_budget", "over")

    def on_ForecastBackWithinBudget(self, chronicle, event):
        self._forecast(chronicle, event, "forecast_within_budget", "back within")
