"""Who is told what about follow-up (issue 17): the ``Notifier``'s handlers of the follow-up events. A mixin, so
that each stays beside its kind; ``notify`` (the one way to notify, with preferences) is the ``Notifier``'s."""
from __future__ import annotations

from collections import defaultdict


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
