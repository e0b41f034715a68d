"""The forecast watch: after a fact that moves a project's forecast (hours logged, a booking, an absence, a working
week, a budget, a phase, a rate), measure the forecast against each budget (the project's and each phase's, hours
and money) and record ``ForecastOverBudget`` once per crossing, ``ForecastBackWithinBudget`` when it drops back.

The figures are those as of the event the watch reacts to, never "now": the project's stream up to the event's
position, the forecast's facts as of that position (``forecast_views``), and the event's own date as "today" (the
hours ahead are those booked after it), or the service's fixed calendar date when ``PROJECT_FIXED_NOW`` fixes it (as
``project_forecast`` reads it). The read models may already show later events; read "now", the cause of a
crossing would differ between runs. A move of an entry to another week counts once both halves are recorded (as in
the budget watch), so a move that keeps the hours never drops back and crosses again.

Its cost per event does not grow with the project: the hours logged come as the read model's running sums by phase
as of the event (``projections.actuals``, each entry priced and rounded once when it changes, as the forecast
prices it), not as every entry read and priced again; only the bookings ahead are priced here."""
from __future__ import annotations

from shared import config as cfg
from shared.clock import fixed_moment
from shared.rates import projects_of_client
from shared.reactors import Reactor

from . import forecast as fc
from .domain import Project
from .forecast_views import (
    booking_projects,
    entry_live,
    facts_of,
    project_plan,
    projects_booking,
    rate_histories,
)
from .projections import actuals

PROJECT_FACTS = ("budget_hours", "budget_amount", "hourly_rate", "starts_on", "ends_on", "billable", "client_id")


def has_budget(project) -> bool:
    """Whether the project, or any of its phases, has an hours or a money budget (what ``fc.measures`` measures)."""
    budgets = [(project.budget_centi, project.budget_amount)]
    budgets += [(p["budget_centi"], p["budget_amount"]) for p in getattr(project, "phases", {}).values()]
    return any(hours is not None or money is not None for hours, money in budgets)


class ForecastWatchReactor(Reactor):
    name = "forecast"

    def _measure(self, chronicle, event, project_ids):
        # the service's calendar on the event's day: its date, unless the calendar is fixed (PROJECT_FIXED_NOW, as
        # project_forecast reads it), so a day booked before a fixed today is past for both
        fixed = fixed_moment(cfg._get(chronicle.config, "PROJECT_FIXED_NOW"))
        today = fixed.date() if fixed else event.recorded_at.date()
        for project_id in sorted({p for p in project_ids if p}):
            stream = [e for e in chronicle.stream(f"{Project.category}-{project_id}") if e.position <= event.position]
            if not stream:
                continue  # a project not known here (yet): nothing to measure
            project = Project.rebuild(project_id, stream)
            if not has_budget(project):
                continue  # nothing to measure against: no crossing can be recorded, so the facts are not read
            rows, rates, actual = chronicle.query(lambda db: (  # noqa: B023
                project_plan(db, project_id, as_of=event.position),  # noqa: B023
                rate_histories(db, project_id, project.client_id, as_of=event.position),  # noqa: B023
                actuals(db, project_id, as_of=event.position)))  # noqa: B023
            measured = fc.measures(fc.forecast(facts_of(project, rows, rates), today, actual))
            chronicle.execute(fc.ForecastWatch, project_id, lambda w: w.note_forecast(measured),  # noqa: B023
                              command_id=f"{self.name}:{event.id}:{project_id}")

    # -- hours logged -------------------------------------------------------------------------------
    def on_TimeLogged(self, chronicle, event):
        came_from = event.data.get("moved_from_week")
        if came_from and chronicle.query(
                lambda db: entry_live(db, event.data["entry_id"], came_from, event.position)):
            return  # a move whose step out of the old week is not recorded yet: that step reacts
        self._measure(chronicle, event, [event.data["project_id"]])

    def on_TimeEntryAmended(self, chronicle, event):
        previous = event.data.get("previous") or {}
        self._measure(chronicle, event, [event.data["project_id"], previous.get("project_id")])

    def on_TimeEntryCorrected(self, chronicle, event):  # a correction after the lock
        self._measure(chronicle, event, [event.data["project_id"]])

    def on_TimeEntryDeleted(self, chronicle, event):
        went_to = event.data.get("moved_to_week")
        if went_to and not chronicle.query(
                lambda db: entry_live(db, event.data["entry_id"], went_to, event.position)):
            return  # the first half of a move: the entry is logged in its new week (or put back) next
        self._measure(chronicle, event, [event.data["project_id"]])

    # -- bookings, absences, working weeks ----------------------------------------------------------
    def _booking(self, chronicle, event):
        booking_id = event.data["booking_id"]
        projects = chronicle.query(lambda db: booking_projects(db, booking_id, as_of=event.position))
        self._measure(chronicle, event, projects + [event.data.get("project_id")])

    on_ResourceBooked = on_BookingChanged = on_BookingConfirmed = on_BookingCancelled = _booking

    def _person(self, chronicle, event):
        resource_id = event.data["resource_id"]
        self._measure(chronicle, event, chronicle.query(lambda db: projects_booking(db, resource_id, event.position)))

    on_AbsenceRegistered = on_AbsenceCancelled = _person

    def on_ResourceUpdated(self, chronicle, event):
        changes = event.data.get("changes") or {}
        if "weekly_capacity_hours" in changes or "working_days" in changes:
            self._person(chronicle, event)

    # -- the project's own facts --------------------------------------------------------------------
    def on_ProjectUpdated(self, chronicle, event):
        if set(event.data["changes"]) & set(PROJECT_FACTS):
            self._measure(chronicle, event, [event.data["project_id"]])

    def _project(self, chronicle, event):
        self._measure(chronicle, event, [event.data["project_id"]])

    on_MemberAssigned = on_PhaseAdded = on_PhaseUpdated = on_TaskUpdated = on_BillingRateSet = _project

    def on_ClientRateSet(self, chronicle, event):
        client_id = event.data["client_id"]
        self._measure(chronicle, event, chronicle.query(lambda db: projects_of_client(db, client_id)))
