"""The budget watch: after hours on a project change (or its budget does), tell the project how many
hours are used, so that it records each budget threshold crossed.

A move of an entry to another week is two events in two streams (TimeEntryDeleted with moved_to_week in the
old week, TimeLogged with moved_from_week in the new one, recorded here in either order; a refused second step
puts the entry back with a TimeLogged in the old week). The watch acts on a move only once both halves are
recorded, so a move that keeps the hours never clears and re-reaches a threshold.

The watch reads the hours as of the event it reacts to, never "now": the read models may already show later
events, and the threshold must be caused by the entry that crossed it, the same in every run and every replay.

The money budget is watched the same way, on the billable amount logged (``used_cents``, as of the event too): it
moves with the hours and with the billing rates (a rate set from a date reprices the entries from then)."""
from __future__ import annotations

from shared.rates import projects_of_client
from shared.reactors import Reactor

from .domain import Project
from .projections import entry_in_week, used_centi, used_cents


class BudgetWatch(Reactor):
    name = "budget"

    def _note(self, chronicle, event, project_ids):
        for project_id in sorted({p for p in project_ids if p}):
            used, money = chronicle.query(lambda db: (used_centi(db, project_id, as_of=event.position),  # noqa: B023
                                                      used_cents(db, project_id, as_of=event.position)))  # noqa: B023

            def note(project, used=used, money=money):
                project.note_hours(used)
                project.note_money(money)

            chronicle.execute(Project, project_id, note, command_id=f"{self.name}:{event.id}:{project_id}")

    def on_TimeLogged(self, chronicle, event):
        came_from = event.data.get("moved_from_week")
        if came_from and self._in_week(chronicle, event, came_from):
            return  # a move whose step out of the old week is not recorded yet: that step reacts
        self._note(chronicle, event, [event.data.get("project_id")])

    def on_TimeEntryAmended(self, chronicle, event):
        previous = event.data.get("previous") or {}
        self._note(chronicle, event, [event.data.get("project_id"), previous.get("project_id")])

    def on_TimeEntryCorrected(self, chronicle, event):  # the timesheet's corrections after its lock
        self._note(chronicle, event, [event.data.get("project_id")])

    def on_TimeEntryDeleted(self, chronicle, event):
        went_to = event.data.get("moved_to_week")
        if went_to and not self._in_week(chronicle, event, went_to):
            return  # the first half of a move: the entry is logged in its new week (or put back) next
        self._note(chronicle, event, [event.data.get("project_id")])

    @staticmethod
    def _in_week(chronicle, event, week):
        entry_id = event.data.get("entry_id")
        return chronicle.query(lambda db: entry_in_week(db, entry_id, week, as_of=event.position))

    def on_ProjectUpdated(self, chronicle, event):
        if {"budget_hours", "budget_amount", "hourly_rate", "client_id"} & set(event.data["changes"]):
            self._note(chronicle, event, [event.data["project_id"]])

    # Billing rates move the money used (the entries they reprice).
    def on_BillingRateSet(self, chronicle, event):
        self._note(chronicle, event, [event.data["project_id"]])

    def on_MemberAssigned(self, chronicle, event):
        self._note(chronicle, event, [event.data["project_id"]])

    def on_ClientRateSet(self, chronicle, event):
        client_id = event.data["client_id"]
        self._note(chronicle, event, chronicle.query(lambda db: projects_of_client(db, client_id)))

    on_ClientCreated = on_ClientRateSet
