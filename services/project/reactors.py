"""The budget watch: after hours on a project change (or its budget does), tell the project how many
hours are used, so that it records each budget threshold crossed."""
from __future__ import annotations

from shared.reactors import Reactor

from .domain import Project
from .projections import used_centi


class BudgetWatch(Reactor):
    name = "budget"

    def _note(self, chronicle, event, project_ids):
        for project_id in sorted({p for p in project_ids if p}):
            used = chronicle.query(lambda db: used_centi(db, project_id))  # noqa: B023
            chronicle.execute(Project, project_id, lambda p: p.note_hours(used),  # noqa: B023
                              command_id=f"{self.name}:{event.id}:{project_id}")

    def on_TimeLogged(self, chronicle, event):
        self._note(chronicle, event, [event.data.get("project_id")])

    def on_TimeEntryAmended(self, chronicle, event):
        previous = event.data.get("previous") or {}
        self._note(chronicle, event, [event.data.get("project_id"), previous.get("project_id")])

    on_TimeEntryDeleted = on_TimeLogged

    def on_ProjectUpdated(self, chronicle, event):
        if "budget_hours" in event.data["changes"]:
            self._note(chronicle, event, [event.data["project_id"]])
