"""The resource nameko service: thin wiring of RPCs onto the domain and the read models."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime, timezone

from services.resource.domain import CLOSED_PROJECT_STATUSES, EmailReservation, Resource, totals
from services.resource.events import events
from services.resource.projections import projections
from services.resource.schemas import (
    AvailabilitySchema,
    BookResourceSchema,
    CancelAbsenceSchema,
    CancelBookingSchema,
    FindAvailableSchema,
    GetResourceSchema,
    HistorySchema,
    ListResourcesSchema,
    RegisterAbsenceSchema,
    RegisterResourceSchema,
    ResourceIdSchema,
    UpdateResourceSchema,
    UtilisationSchema,
    check_effective_from,
)
from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.errors import Forbidden, NotFound, RuleViolation
from shared.handling import derive_id
from shared.kit import Chronicle
from shared.reactors import Reactor
from shared.validation import hours, load


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def email_key(email: str) -> str:
    return hashlib.sha1(email.encode()).hexdigest()


def sub_command(command_id, step):
    return f"{command_id}:{step}" if command_id else None


def ratio(numerator: int, denominator: int):
    return round(numerator / denominator, 4) if denominator else None


PEOPLE = ("admin", "manager", "employee")


def require_self(caller, resource_id, *roles, what):
    """A person acts on their own resource; ``roles`` (admin always) on anyone's. Services act for nobody."""
    caller.require(*PEOPLE, what=what)
    if caller.role not in ("admin", *roles) and caller.subject != resource_id:
        raise Forbidden(f"{what} of another person is not yours to see or change", code="auth.not_own")


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
        resource_ids = chronicle.query(lambda db: [r[0] for r in db.execute(
            "SELECT DISTINCT resource_id FROM resource_bookings WHERE project_id = ? ORDER BY resource_id",
            (project_id,))])
        for resource_id in resource_ids:
            chronicle.execute(
                Resource, resource_id, lambda r: r.project_ended(project_id, effective_on, status),
                command_id=f"project-ended:{event.id}:{resource_id}",
            )


class ResourceService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "resource"
    chronicle = Chronicle(
        categories=CATEGORIES["resource"], internal_categories=["resourceemail"], events=events,
        projections=projections, sources=sources("project", "timesheet"), reactors=lambda: [ProjectEnded()],
    )

    # -- foreign facts --------------------------------------------------------------------------

    # -- helpers --------------------------------------------------------------------------------
    def _holds(self, resource_id, email):
        resource = self.chronicle.load(Resource, resource_id)
        return resource.exists and resource.active and resource.email == email

    def _reserve(self, email, resource_id, command_id):
        self.chronicle.execute(
            EmailReservation, email_key(email),
            lambda r: r.reserve(email, resource_id, time.time(), self._holds), command_id=command_id,
        )

    def _release(self, email, resource_id, command_id):
        self.chronicle.execute(EmailReservation, email_key(email), lambda r: r.release(resource_id),
                               command_id=command_id)

    def _active(self, resource_id) -> Resource:
        resource = self.chronicle.get(Resource, resource_id, what="resource")
        if not resource.active:
            raise RuleViolation(f"resource {resource_id} is deactivated", code="resource.inactive")
        return resource

    def _project(self, project_id) -> dict:
        """The project as the project service last told us, its feed pulled first: a project put on hold, or
        handed to another manager, a moment ago is seen as it is now."""
        return self.chronicle.ensure(
            lambda db: (lambda row: dict(row) if row else None)(db.execute(
                "SELECT project_id, status, manager_id FROM resource_projects WHERE project_id = ?",
                (project_id,)).fetchone()),
            "project", RuleViolation(f"project {project_id} is not known", code="booking.project_unknown"),
            fresh=True,
        )

    def _managed(self, caller, project_id) -> dict:
        """The project, which a manager may act on only if they manage it."""
        project = self._project(project_id)
        if caller.role != "admin" and project["manager_id"] != caller.subject:
            raise Forbidden(f"you do not manage project {project_id}", code="auth.not_manager")
        return project

    @staticmethod
    def _overbooked(outcome):
        for event in outcome.events:
            if event.type == "ResourceOverbooked":
                return event.data
        return None

    @staticmethod
    def _resource_result(outcome):
        return {**outcome.aggregate.to_dict(today()), "position": outcome.position}

    def _booking_result(self, outcome, resource_id):
        booked = next(e.data for e in outcome.events if e.type == "ResourceBooked")
        booking = outcome.aggregate.bookings[booked["booking_id"]]
        return {**booking.to_dict(resource_id), "overbooked": self._overbooked(outcome), "position": outcome.position}

    # -- people ---------------------------------------------------------------------------------
    @rpc
    def register_resource(self, **kwargs):
        self.chronicle.caller.require("admin", what="registering a resource")
        args = load(RegisterResourceSchema, kwargs)
        command_id = args["command_id"]
        resource_id = derive_id(command_id, "resource")
        first = self.chronicle.replayed(Resource, resource_id, command_id)
        if first is not None:  # a retry reserves nothing, whatever email it carries
            return self._resource_result(first)
        # The email first (a reservation, released or taken over if the registration never follows).
        self._reserve(args["email"], resource_id, sub_command(command_id, "email"))
        outcome = self.chronicle.execute(
            Resource, resource_id,
            lambda r: r.register(args["name"], args["email"], args["weekly_capacity_hours"], args["skills"],
                                 args["working_days"], args["title"]),
            command_id=command_id,
        )
        return self._resource_result(outcome)

    @rpc
    def update_resource(self, **kwargs):
        self.chronicle.caller.require("admin", what="changing a resource")
        args = load(UpdateResourceSchema, kwargs)
        command_id, resource_id = args["command_id"], args["resource_id"]
        first = self.chronicle.replayed(Resource, resource_id, command_id)
        if first is not None:  # before the checks: the resource may have been deactivated since
            return self._resource_result(first)
        check_effective_from(args["effective_from"], date.fromisoformat(today()))  # after the replay: it moves
        current = self._active(resource_id)
        changes = {k: args[k] for k in ("name", "email", "title", "skills", "working_days") if k in args}
        if "weekly_capacity_hours" in args:
            changes["weekly_capacity"] = args["weekly_capacity_hours"]
        effective_from = args["effective_from"]
        if effective_from is None and ("weekly_capacity" in changes or "working_days" in changes):
            effective_from = today()
        current.capacity_change(changes, effective_from)  # bad capacity is refused before the email is reserved
        new_email = changes.get("email") if changes.get("email") != current.email else None
        if new_email:
            self._reserve(new_email, resource_id, sub_command(command_id, "email"))
        try:
            outcome = self.chronicle.execute(Resource, resource_id, lambda r: r.update(changes, effective_from),
                                             command_id=command_id, expected_version=args["expected_version"])
        except Exception:
            if new_email:
                self._release(new_email, resource_id, None)
            raise
        if new_email and not outcome.replayed:
            self._release(current.email, resource_id, sub_command(command_id, "release"))
        return self._resource_result(outcome)

    @rpc
    def deactivate_resource(self, **kwargs):
        self.chronicle.caller.require("admin", what="deactivating a resource")
        args = load(ResourceIdSchema, kwargs)
        command_id, resource_id = args["command_id"], args["resource_id"]
        outcome = self.chronicle.execute(Resource, resource_id, lambda r: r.deactivate(today()),
                                         command_id=command_id)
        resource = outcome.aggregate
        # A crash before this release leaves a reservation held by an inactive resource: it is taken over.
        self._release(resource.email, resource_id, sub_command(command_id, "release"))
        cancelled = [e.data["booking_id"] for e in outcome.events if e.type == "BookingCancelled"]
        return {**resource.to_dict(today()), "cancelled_booking_ids": cancelled, "position": outcome.position}

    @rpc
    def get_resource(self, **kwargs):
        args = load(GetResourceSchema, kwargs)
        require_self(self.chronicle.caller, args["resource_id"], "manager", what="the resource")
        resource = self.chronicle.get(Resource, args["resource_id"], what="resource")
        return {
            **resource.to_dict(today()),
            "bookings": [b.to_dict(resource.id) for b in resource.bookings.values() if b.active],
            "absences": [a.to_dict(resource.id) for a in resource.absences.values() if a.active],
        }

    @rpc
    def list_resources(self, **kwargs):
        caller = self.chronicle.caller
        caller.require(*PEOPLE, what="the list of resources")
        args = load(ListResourcesSchema, kwargs)
        sql, params = "SELECT resource_id, state FROM resources WHERE 1 = 1", []
        if caller.role == "employee":  # managers staff projects from the whole list; an employee sees themself
            sql += " AND resource_id = ?"
            params.append(caller.subject)
        if args["active"] is not None:
            sql += " AND active = ?"
            params.append(int(args["active"]))
        if args["skill"]:
            sql += " AND EXISTS (SELECT 1 FROM json_each(resources.skills) WHERE value = ?)"
            params.append(args["skill"])
        rows = self.chronicle.query(lambda db: db.execute(sql + " ORDER BY name, resource_id", params).fetchall(),
                                    min_position=args["min_position"])
        day = today()
        return [Resource.from_state(r[0], json.loads(r[1])).to_dict(day) for r in rows]

    # -- bookings and absences ------------------------------------------------------------------
    @rpc
    def book_resource(self, **kwargs):
        caller = self.chronicle.caller
        caller.require("admin", "manager", what="booking a resource")
        args = load(BookResourceSchema, kwargs)
        command_id, resource_id, project_id = args["command_id"], args["resource_id"], args["project_id"]
        # Before the retry is recognised: a retry is no way around the rule.
        project = self._managed(caller, project_id) if caller.role == "manager" else None
        first = self.chronicle.replayed(Resource, resource_id, command_id)
        if first is not None:  # before the checks: the project or the resource may have changed since
            return self._booking_result(first, resource_id)
        self._active(resource_id)
        project = project or self._project(project_id)
        if project["status"] != "active":
            raise RuleViolation(f"project {project_id} is {project['status']}", code="booking.project_not_active")
        # A command_id is scoped to its resource: the same one sent to another resource books a booking of its own.
        booking_id = derive_id(command_id, f"booking/{resource_id}")
        outcome = self.chronicle.execute(
            Resource, resource_id,
            lambda r: r.book(booking_id, project_id, args["starts_on"], args["ends_on"], args["hours_per_day"],
                             args["tentative"]),
            command_id=command_id,
        )
        return self._booking_result(outcome, resource_id)

    @rpc
    def cancel_booking(self, **kwargs):
        caller = self.chronicle.caller
        caller.require("admin", "manager", what="cancelling a booking")
        args = load(CancelBookingSchema, kwargs)
        resource_id, booking_id = args["resource_id"], args["booking_id"]
        if caller.role == "manager":
            booking = self.chronicle.get(Resource, resource_id, what="resource").bookings.get(booking_id)
            if booking is not None:  # an unknown booking is the domain's NotFound
                self._managed(caller, booking.project_id)
        outcome = self.chronicle.execute(Resource, resource_id,
                                         lambda r: r.cancel_booking(booking_id, args["reason"]),
                                         command_id=args["command_id"])
        return {**outcome.aggregate.bookings[booking_id].to_dict(resource_id), "position": outcome.position}

    @rpc
    def register_absence(self, **kwargs):
        args = load(RegisterAbsenceSchema, kwargs)
        command_id, resource_id = args["command_id"], args["resource_id"]
        require_self(self.chronicle.caller, resource_id, what="the absences")
        absence_id = derive_id(command_id, f"absence/{resource_id}")  # scoped to the resource, like bookings
        outcome = self.chronicle.execute(
            Resource, resource_id,
            lambda r: r.register_absence(absence_id, args["starts_on"], args["ends_on"], args["kind"],
                                         args["hours_per_day"]),
            command_id=command_id,
        )
        registered = next(e.data for e in outcome.events if e.type == "AbsenceRegistered")
        absence = outcome.aggregate.absences[registered["absence_id"]]
        return {**absence.to_dict(resource_id), "overbooked": self._overbooked(outcome), "position": outcome.position}

    @rpc
    def cancel_absence(self, **kwargs):
        args = load(CancelAbsenceSchema, kwargs)
        resource_id, absence_id = args["resource_id"], args["absence_id"]
        require_self(self.chronicle.caller, resource_id, what="the absences")
        outcome = self.chronicle.execute(Resource, resource_id, lambda r: r.cancel_absence(absence_id),
                                         command_id=args["command_id"])
        return {**outcome.aggregate.absences[absence_id].to_dict(resource_id), "position": outcome.position}

    # -- planning queries -----------------------------------------------------------------------
    @rpc
    def availability(self, **kwargs):
        """Straight from the resource's stream, so always up to date."""
        args = load(AvailabilitySchema, kwargs)
        require_self(self.chronicle.caller, args["resource_id"], "manager", what="the availability")
        resource = self.chronicle.get(Resource, args["resource_id"], what="resource")
        loads = resource.loads(args["from_date"], args["to_date"])
        return {"resource_id": resource.id, "from_date": args["from_date"], "to_date": args["to_date"],
                "days": [d.to_dict() for d in loads], "totals": totals(loads)}

    def _resources(self, min_position, resource_id=None, active_only=False):
        sql, params = "SELECT resource_id, state FROM resources WHERE 1 = 1", []
        if resource_id:
            sql += " AND resource_id = ?"
            params.append(resource_id)
        if active_only:
            sql += " AND active = 1"
        rows = self.chronicle.query(lambda db: db.execute(sql + " ORDER BY name, resource_id", params).fetchall(),
                                    min_position=min_position)
        return [Resource.from_state(r[0], json.loads(r[1])) for r in rows]

    @rpc
    def find_available(self, **kwargs):
        self.chronicle.caller.require("admin", "manager", what="finding available people")
        args = load(FindAvailableSchema, kwargs)
        wanted, needed = set(args["skills"]), args["hours_per_day"]
        found = []
        for resource in self._resources(args["min_position"], active_only=True):
            if not wanted <= set(resource.skills):
                continue
            working = [d for d in resource.loads(args["from_date"], args["to_date"]) if d.working]
            if not working or any(d.free < needed for d in working):
                continue
            found.append((sum(d.free for d in working), min(d.free for d in working), len(working), resource))
        found.sort(key=lambda item: (-item[0], item[3].name or "", item[3].id))
        return [{"resource_id": r.id, "name": r.name, "email": r.email, "title": r.title, "skills": r.skills,
                 "free_hours": hours(free), "min_free_hours_per_day": hours(least), "working_days": days}
                for free, least, days, r in found]

    @rpc
    def utilisation(self, **kwargs):
        self.chronicle.caller.require("admin", "manager", what="utilisation")
        args = load(UtilisationSchema, kwargs)
        start, end, resource_id = args["from_date"], args["to_date"], args["resource_id"]
        resources = self._resources(args["min_position"], resource_id)
        if resource_id and not resources:
            raise NotFound(f"resource {resource_id} not found", code="resource.not_found")
        logged = self.chronicle.query(lambda db: {r[0]: (r[1], r[2]) for r in db.execute(
            "SELECT employee_id, SUM(hours), SUM(CASE WHEN billable THEN hours ELSE 0 END)"
            " FROM resource_time_entries WHERE deleted = 0 AND date BETWEEN ? AND ? GROUP BY employee_id",
            (start, end))})
        out = []
        for resource in resources:
            loads = resource.loads(start, end)
            capacity, absence = sum(d.capacity for d in loads), sum(d.absence for d in loads)
            booked, tentative = sum(d.booked for d in loads), sum(d.tentative for d in loads)
            logged_hours, billable = logged.get(resource.id, (0, 0))
            if not (resource_id or resource.active or booked or tentative or logged_hours):
                continue
            out.append({
                "resource_id": resource.id, "name": resource.name, "active": resource.active,
                "capacity_hours": hours(capacity), "absence_hours": hours(absence),
                "available_hours": hours(capacity - absence), "booked_hours": hours(booked),
                "tentative_hours": hours(tentative), "logged_hours": hours(logged_hours),
                "billable_hours": hours(billable),
                "utilisation": ratio(logged_hours, capacity - absence),
                "billable_utilisation": ratio(billable, capacity - absence),
                "booking_accuracy": ratio(logged_hours, booked),
            })
        return {"from_date": start, "to_date": end, "resources": out}

    # -- audit and feed -------------------------------------------------------------------------
    @rpc
    def history(self, **kwargs):
        args = load(HistorySchema, kwargs)
        require_self(self.chronicle.caller, args["resource_id"], "manager", what="the history")
        trail = self.chronicle.stream(f"resource-{args['resource_id']}")
        if not trail:
            raise NotFound(f"resource {args['resource_id']} not found", code="resource.not_found")
        return [e.to_dict() for e in trail]
