"""The resource service's reactors: what it does when other services' facts arrive."""
from __future__ import annotations

from shared.reactors import Reactor

from .domain import CLOSED_PROJECT_STATUSES, Resource
from .projections import booked_on


class ProjectEnded(Reactor):
    """A project completed or archived: its bookings after the day of the change are cancelled
    (whole when they start later, from the next day when they span it)."""

    name = "resource.project_ended"

    def on_ProjectStatusChanged(self, chronicle, event):
        data = event.data
        status = data.get("to_status")
        if status not in CLOSED_PROJECT_STATUSES:
            return
        project_id = data["project_id"]
        effective_on = data.get("effective_on") or event.recorded_at.date().isoformat()
        for resource_id in chronicle.query(lambda db: booked_on(db, project_id)):
            chronicle.execute(
                Resource, resource_id, lambda r: r.project_ended(project_id, effective_on, status),
                command_id=f"project-ended:{event.id}:{resource_id}",
            )
