"""The resource service's commands and queries: each one function of the validated arguments (``args``, as its
schema loaded them) and the kit handle (``chronicle``; the verified caller is ``chronicle.caller``), with today's
date (``today``, ISO) or the time (``now``, epoch seconds) passed in by the service. The rules live in ``domain.py``
and ``access.py``, the queries beside their read model in ``projections.py``; a handler orders the checks, the
facts and the writes."""
from __future__ import annotations

from datetime import date

from shared import reservations
from shared.errors import Conflict, NotFound, RuleViolation
from shared.handling import derive_id

from . import access, costs, domain, projections, staffing
from .domain import EmailReservation, Resource, email_key
from .schemas import check_effective_from


# -- people ---------------------------------------------------------------------------------------
def register_resource(args, chronicle, *, today: str, now: float):
    chronicle.caller.require("admin", what="registering a resource")
    command_id = args["command_id"]
    resource_id = derive_id(command_id, "resource")
    outcome = chronicle.execute(
        Resource, resource_id,
        lambda r: r.register(args["name"], args["email"], args["weekly_capacity_hours"], args["skills"],
                             args["working_days"], args["title"]),
        command_id=command_id,
        # The email first (released or taken over if the registration never follows); a retry reserves nothing,
        # whatever email it carries.
        precheck=lambda: _reserve_email(chronicle, args["email"], resource_id, now),
    )
    return _resource(outcome, today)


def update_resource(args, chronicle, *, today: str, now: float):
    chronicle.caller.require("admin", what="changing a resource")
    resource_id = args["resource_id"]
    changes = {k: args[k] for k in ("name", "email", "title", "skills", "working_days") if k in args}
    if "weekly_capacity_hours" in args:
        changes["weekly_capacity"] = args["weekly_capacity_hours"]
    effective_from = args["effective_from"]
    if effective_from is None and ("weekly_capacity" in changes or "working_days" in changes):
        effective_from = today
    emails = {}  # the new address reserved and the old one to release

    def precheck():  # not for a retry: the resource may have been deactivated since, and the window moves
        check_effective_from(args["effective_from"], date.fromisoformat(today))
        current = _active(chronicle, resource_id)
        current.capacity_change(changes, effective_from)  # bad capacity is refused before the email is reserved
        if changes.get("email", current.email) != current.email:
            _reserve_email(chronicle, changes["email"], resource_id, now)
            emails.update(new=changes["email"], old=current.email)

    try:
        outcome = chronicle.execute(Resource, resource_id, lambda r: r.update(changes, effective_from),
                                    command_id=args["command_id"], expected_version=args["expected_version"],
                                    precheck=precheck)
    except Exception:
        if emails:
            _release_email(chronicle, emails["new"], resource_id)
        raise
    if emails:
        _release_email(chronicle, emails["old"], resource_id)
    return _resource(outcome, today)


def deactivate_resource(args, chronicle, *, today: str):
    chronicle.caller.require("admin", what="deactivating a resource")
    resource_id = args["resource_id"]
    outcome = chronicle.execute(Resource, resource_id, lambda r: r.deactivate(today), command_id=args["command_id"])
    resource = outcome.aggregate
    # A crash before this release leaves a reservation held by an inactive resource: it is taken over.
    _release_email(chronicle, resource.email, resource_id)
    cancelled = [e.data["booking_id"] for e in outcome.events if e.type == "BookingCancelled"]
    return {**resource.to_dict(today), "cancelled_booking_ids": cancelled, "position": outcome.position}


def get_resource(args, chronicle, *, today: str):
    access.require_self(chronicle.caller, args["resource_id"], "manager", what="the resource")
    resource = _get(chronicle, args["resource_id"])
    return {
        **resource.to_dict(today),
        "bookings": [b.to_dict(resource.id) for b in resource.bookings.values() if b.active],
        "absences": [a.to_dict(resource.id) for a in resource.absences.values() if a.active],
    }


def list_resources(args, chronicle, *, today: str):
    only = access.listed_only(chronicle.caller)
    found = chronicle.query(
        lambda db: projections.resources(db, resource_id=only, active=args["active"], skill=args["skill"]),
        min_position=args["min_position"])
    return [resource.to_dict(today) for resource in found]


# -- bookings and absences ------------------------------------------------------------------------
def book_resource(args, chronicle):
    caller = chronicle.caller
    caller.require(*access.PLANNERS, what="booking a resource")
    command_id, resource_id, project_id = args["command_id"], args["resource_id"], args["project_id"]
    # Before the retry is recognised: a retry is no way around the rule.
    managed = access.managed(caller, _project(chronicle, project_id)) if caller.role == "manager" else None

    def precheck():  # not for a retry: the project or the resource may have changed since
        _active(chronicle, resource_id)
        project = managed or _project(chronicle, project_id)
        if project["status"] != "active":
            raise RuleViolation(f"project {project_id} is {project['status']}", code="booking.project_not_active")

    # A command_id is scoped to its resource: the same one sent to another resource books a booking of its own.
    booking_id = derive_id(command_id, f"booking/{resource_id}")
    outcome = chronicle.execute(
        Resource, resource_id,
        lambda r: r.book(booking_id, project_id, args["starts_on"], args["ends_on"], args["hours_per_day"],
                         args["tentative"]),
        command_id=command_id, precheck=precheck,
    )
    booked = next(e.data for e in outcome.events if e.type == "ResourceBooked")
    booking = outcome.aggregate.bookings[booked["booking_id"]]
    return {**booking.to_dict(resource_id), "overbooked": _overbooked(outcome), "position": outcome.position}


def cancel_booking(args, chronicle):
    caller = chronicle.caller
    caller.require(*access.PLANNERS, what="cancelling a booking")
    resource_id, booking_id = args["resource_id"], args["booking_id"]
    if caller.role == "manager":
        booking = _get(chronicle, resource_id).bookings.get(booking_id)
        if booking is not None:  # an unknown booking is the domain's NotFound
            access.managed(caller, _project(chronicle, booking.project_id))
    outcome = chronicle.execute(Resource, resource_id, lambda r: r.cancel_booking(booking_id, args["reason"]),
                                command_id=args["command_id"])
    return {**outcome.aggregate.bookings[booking_id].to_dict(resource_id), "position": outcome.position}


def register_absence(args, chronicle):
    command_id, resource_id = args["command_id"], args["resource_id"]
    access.require_self(chronicle.caller, resource_id, what="the absences")
    absence_id = derive_id(command_id, f"absence/{resource_id}")  # scoped to the resource, like bookings
    outcome = chronicle.execute(
        Resource, resource_id,
        lambda r: r.register_absence(absence_id, args["starts_on"], args["ends_on"], args["kind"],
                                     args["hours_per_day"]),
        command_id=command_id,
    )
    registered = next(e.data for e in outcome.events if e.type == "AbsenceRegistered")
    absence = outcome.aggregate.absences[registered["absence_id"]]
    return {**absence.to_dict(resource_id), "overbooked": _overbooked(outcome), "position": outcome.position}


def cancel_absence(args, chronicle):
    resource_id, absence_id = args["resource_id"], args["absence_id"]
    access.require_self(chronicle.caller, resource_id, what="the absences")
    outcome = chronicle.execute(Resource, resource_id, lambda r: r.cancel_absence(absence_id),
                                command_id=args["command_id"])
    return {**outcome.aggregate.absences[absence_id].to_dict(resource_id), "position": outcome.position}


# -- planning -------------------------------------------------------------------------------------
def availability(args, chronicle):
    access.require_self(chronicle.caller, args["resource_id"], "manager", what="the availability")
    resource = _get(chronicle, args["resource_id"])
    loads = resource.loads(args["from_date"], args["to_date"])
    return {"resource_id": resource.id, "from_date": args["from_date"], "to_date": args["to_date"],
            "days": [d.to_dict() for d in loads], "totals": domain.totals(loads)}


def find_available(args, chronicle):
    chronicle.caller.require(*access.PLANNERS, what="finding available people")
    active = chronicle.query(lambda db: projections.resources(db, active=True), min_position=args["min_position"])
    found = staffing.partial_free_time(active, args["skills"], args["from_date"], args["to_date"],
                                       args["hours_per_day"], min_coverage=args["min_coverage_percent"])
    return [coverage.to_dict() for coverage in found]


def utilisation(args, chronicle):
    chronicle.caller.require(*access.PLANNERS, what="utilisation")
    start, end, resource_id = args["from_date"], args["to_date"], args["resource_id"]
    found = chronicle.query(lambda db: projections.resources(db, resource_id=resource_id),
                            min_position=args["min_position"])
    if resource_id and not found:
        raise NotFound(f"resource {resource_id} not found", code="resource.not_found")
    logged = chronicle.query(lambda db: projections.logged_hours(db, start, end))
    return {"from_date": start, "to_date": end,
            "resources": domain.utilisation(found, start, end, logged, named=bool(resource_id))}


# -- audit ----------------------------------------------------------------------------------------
def history(args, chronicle):
    access.require_self(chronicle.caller, args["resource_id"], "manager", what="the history")
    trail = chronicle.stream(f"resource-{args['resource_id']}")
    if not trail:
        raise NotFound(f"resource {args['resource_id']} not found", code="resource.not_found")
    return [e.to_dict() for e in trail]


# -- shared steps ---------------------------------------------------------------------------------
def _get(chronicle, resource_id) -> Resource:
    return chronicle.get(Resource, resource_id, what="resource")


def _active(chronicle, resource_id) -> Resource:
    resource = _get(chronicle, resource_id)
    if not resource.active:
        raise RuleViolation(f"resource {resource_id} is deactivated", code="resource.inactive")
    return resource


def _project(chronicle, project_id) -> dict:
    """The project as the project service last told us, its feed pulled first: a project put on hold, or handed to
    another manager, a moment ago is seen as it is now."""
    return chronicle.ensure(
        lambda db: projections.project(db, project_id), "project",
        RuleViolation(f"project {project_id} is not known", code="booking.project_unknown"), fresh=True,
    )


def _reserve_email(chronicle, email, resource_id, now):
    """Reserved by owner, not by command id: a retry after the address was released or taken over reserves it
    again, or is refused, rather than replaying a reservation that no longer holds."""
    reservations.reserve(
        chronicle, EmailReservation, email_key(email), resource_id, command_id=None, now=now, data={"email": email},
        holds=lambda held: _carries(chronicle, held.owner, email),
        taken=Conflict(f"{email} is used by another resource", code="resource.email_taken"),
    )


def _carries(chronicle, resource_id, email) -> bool:
    """Does that resource hold the address for good: registered, active and carrying it?"""
    resource = chronicle.load(Resource, resource_id)
    return resource.exists and resource.active and resource.email == email


def _release_email(chronicle, email, resource_id):
    reservations.release(chronicle, EmailReservation, email_key(email), resource_id)


def _resource(outcome, today) -> dict:
    return {**outcome.aggregate.to_dict(today), "position": outcome.position}


def _overbooked(outcome) -> dict | None:
    return next((e.data for e in outcome.events if e.type == "ResourceOverbooked"), None)


# -- money: cost rates (issue 16) -------------------------------------------------------------------------------------
def set_cost_rate(args, chronicle):
    """What an hour of the person costs the company from a date: for admins."""
    chronicle.caller.require("admin", what="setting a cost rate")
    chronicle.get(Resource, args["resource_id"], what="resource")
    outcome = chronicle.execute(
        Resource, args["resource_id"],
        lambda r: r.set_cost_rate(args["rate"], args["currency"], args["effective_from"]),
        command_id=args["command_id"])
    return {**cost_rates_of(chronicle, args["resource_id"]), "position": outcome.position}


def cost_rates(args, chronicle):
    """The person's cost rates in force by date and the chain of every change (who set what, when): for admins."""
    chronicle.caller.require("admin", what="reading cost rates")
    chronicle.get(Resource, args["resource_id"], what="resource")
    return cost_rates_of(chronicle, args["resource_id"])


def cost_rates_of(chronicle, resource_id) -> dict:
    chain = [{"effective_from": e.data["effective_from"], "rate": e.data["rate"], "currency": e.data["currency"],
              "actor": e.metadata.get("actor"), "recorded_at": e.recorded_at.isoformat(), "position": e.position}
             for e in chronicle.stream(f"{Resource.category}-{resource_id}") if e.type == "CostRateSet"]
    return {"resource_id": resource_id, "rates": costs.timeline(chain), "history": chain}


# -- staffing (issue 17) --------------------------------------------------------------------------
def _managed_booking(chronicle, resource_id, booking_id, what) -> dict | None:
    """The rule of book_resource and cancel_booking: planners only; a manager on a booking of a project they manage.
    Returns the project (fresh) when it was read; an unknown booking is left to the domain's NotFound."""
    caller = chronicle.caller
    caller.require(*access.PLANNERS, what=what)
    if caller.role != "manager":
        return None
    booking = _get(chronicle, resource_id).bookings.get(booking_id)
    return None if booking is None else access.managed(caller, _project(chronicle, booking.project_id))


def _bookable(chronicle, resource_id, booking_id, project=None):
    """Precheck of a change or a confirmation: the booking's project still active (a fresh check), as for booking."""
    booking = _active(chronicle, resource_id).bookings.get(booking_id)
    if booking is None:
        return  # the domain's NotFound
    project = project or _project(chronicle, booking.project_id)
    if project["status"] != "active":
        raise RuleViolation(f"project {booking.project_id} is {project['status']}", code="booking.project_not_active")


def change_booking(args, chronicle):
    resource_id, booking_id = args["resource_id"], args["booking_id"]
    project = _managed_booking(chronicle, resource_id, booking_id, "changing a booking")
    changes = {k: args[k] for k in ("starts_on", "ends_on", "hours_per_day", "tentative") if k in args}
    outcome = chronicle.execute(Resource, resource_id, lambda r: r.change_booking(booking_id, changes),
                                command_id=args["command_id"],
                                precheck=lambda: _bookable(chronicle, resource_id, booking_id, project))
    changed = next((e.data for e in outcome.events if e.type == "BookingChanged"), None)
    return {**outcome.aggregate.bookings[booking_id].to_dict(resource_id),
            "previous": changed["previous"] if changed else {}, "overbooked": _overbooked(outcome),
            "position": outcome.position}


def confirm_booking(args, chronicle):
    resource_id, booking_id = args["resource_id"], args["booking_id"]
    project = _managed_booking(chronicle, resource_id, booking_id, "confirming a booking")
    outcome = chronicle.execute(Resource, resource_id, lambda r: r.confirm_booking(booking_id),
                                command_id=args["command_id"],
                                precheck=lambda: _bookable(chronicle, resource_id, booking_id, project))
    return {**outcome.aggregate.bookings[booking_id].to_dict(resource_id), "overbooked": _overbooked(outcome),
            "position": outcome.position}


def project_staffing(args, chronicle):
    chronicle.caller.require(*access.PLANNERS, what="a project's staffing")
    project_id, start, end = args["project_id"], args["from_date"], args["to_date"]
    project = chronicle.ensure(lambda db: projections.project(db, project_id), "project",
                               NotFound(f"project {project_id} is not known", code="project.not_found"))

    def read(db):
        logged = staffing.logged_by_day(db, start, end, project_id)
        people = set(projections.booked_on(db, project_id)) | {employee for employee, _ in logged}
        return staffing.resources_by_id(db, people), logged

    found, logged = chronicle.query(read, min_position=args["min_position"])
    return {"project_id": project_id, "status": project["status"], "manager_id": project["manager_id"],
            "from_date": start, "to_date": end, "weeks": [week for week, _, _ in staffing.weeks(start, end)],
            **staffing.project_staffing(found, project_id, start, end, logged)}


def team_overview(args, chronicle):
    chronicle.caller.require(*access.PLANNERS, what="the team overview")
    start, end = args["from_date"], args["to_date"]

    def read(db):
        return projections.resources(db, skill=args["skill"]), staffing.logged_by_day(db, start, end)

    found, logged = chronicle.query(read, min_position=args["min_position"])
    return {"from_date": start, "to_date": end, "skill": args["skill"],
            "weeks": [week for week, _, _ in staffing.weeks(start, end)],
            "people": staffing.team_overview(found, start, end, logged)}
