"""The resource aggregate: one person, their capacity over time, bookings and absences.

Pure: commands check rules and record events; ``on_<Event>`` only mutates; today comes in as an argument. Hours
are integer centi-hours inside; events carry JSON numbers of hours. The capacity arithmetic (``day_loads``) is a
pure function over plain values, shared by the aggregate and the read models, and so are the planning figures
built on it (``totals``, ``free_time``, ``utilisation``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from shared.aggregate import Aggregate
from shared.errors import Conflict, NotFound, RuleViolation, ValidationError
from shared.reservations import Reservation
from shared.validation import hours

from .costs import CostRates

ABSENCE_KINDS = ("vacation", "sick", "leave", "holiday")
CLOSED_PROJECT_STATUSES = ("completed", "archived")
MAX_DAY_CENTI = 2400  # no working day holds more than 24 h
MAX_BOOKING_DAYS = 731  # as the RPCs' ranges: a booking changed with one end given may not span more
BOOKING_FIELDS = ("starts_on", "ends_on", "hours_per_day", "tentative")  # what change_booking may change


def centi(value) -> int | None:
    """JSON hours (as stored in events) -> centi-hours."""
    if value is None:
        return None
    return int(Decimal(str(value)) * 100)


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def days_between(start, end):
    """Every day from ``start`` to ``end`` inclusive; stops on the last day without stepping past it
    (so a range ending on 9999-12-31, ``date.max``, works)."""
    day, end = as_date(start), as_date(end)
    while day <= end:
        yield day
        if day == end:
            return
        day += timedelta(days=1)


def _stretches(ranges) -> list[tuple[str, str]]:
    """``(first, last)`` ISO ranges merged where they overlap or touch, sorted: each day walked once."""
    merged: list[list[str]] = []
    for first, last in sorted(ranges):
        if merged and (as_date(first) - as_date(merged[-1][1])).days <= 1:  # no step past date.max
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [(first, last) for first, last in merged]


# -- capacity arithmetic ------------------------------------------------------------------------
def too_much_per_day(weekly: int, working_days) -> str | None:
    """Why ``weekly`` centi-hours spread over ``working_days`` would give a day over 24 h, or None.
    The spread puts at most ceil(weekly / n) on a day, which is over 24 h exactly when weekly > 24 h * n."""
    n = len(set(working_days))
    if weekly <= MAX_DAY_CENTI * n:
        return None
    return (f"{hours(weekly)} h a week over {n} working day{'s' if n != 1 else ''} is more than 24 h a day;"
            f" at most {hours(MAX_DAY_CENTI * n)} h a week.")


@dataclass
class CapacityPeriod:
    effective_from: str | None  # None: from the beginning
    weekly: int  # centi-hours per week
    working_days: list[int]  # ISO weekdays


@dataclass
class Booking:
    id: str
    project_id: str
    starts_on: str
    ends_on: str
    hours_per_day: int
    tentative: bool = False
    active: bool = True

    def to_dict(self, resource_id=None) -> dict:
        return {
            "id": self.id, "resource_id": resource_id, "project_id": self.project_id, "starts_on": self.starts_on,
            "ends_on": self.ends_on, "hours_per_day": hours(self.hours_per_day), "tentative": self.tentative,
            "status": "active" if self.active else "cancelled",
        }


@dataclass
class Absence:
    id: str
    starts_on: str
    ends_on: str
    kind: str
    hours_per_day: int | None  # None: whole days
    active: bool = True

    def to_dict(self, resource_id=None) -> dict:
        return {
            "id": self.id, "resource_id": resource_id, "starts_on": self.starts_on, "ends_on": self.ends_on,
            "kind": self.kind, "hours_per_day": hours(self.hours_per_day),
            "status": "active" if self.active else "cancelled",
        }


@dataclass
class DayLoad:
    date: str
    capacity: int
    absence: int
    booked: int  # confirmed bookings
    tentative: int
    project_ids: list[str] = field(default_factory=list)  # of confirmed bookings
    # The weekday is one of the period's working days, whatever its capacity (0 h a week included).
    working: bool = False

    @property
    def net(self) -> int:
        """Capacity net of absences."""
        return self.capacity - self.absence

    @property
    def free(self) -> int:
        return max(0, self.net - self.booked - self.tentative)

    @property
    def excess(self) -> int:
        """Confirmed hours over the net capacity: the over-allocation."""
        return max(0, self.booked - self.net)

    def to_dict(self) -> dict:
        return {
            "date": self.date, "capacity": hours(self.capacity), "absence": hours(self.absence),
            "booked": hours(self.booked), "tentative": hours(self.tentative), "free": hours(self.free),
            "excess": hours(self.excess),
        }


def period_on(periods: list[CapacityPeriod], day: date) -> CapacityPeriod:
    current = periods[0]
    for period in periods:  # sorted by effective_from, the first one from the beginning
        if period.effective_from is None or as_date(period.effective_from) <= day:
            current = period
    return current


def is_working_day(periods: list[CapacityPeriod], day: date) -> bool:
    return day.isoweekday() in period_on(periods, day).working_days


def daily_capacity(periods: list[CapacityPeriod], day: date) -> int:
    """The week's capacity spread evenly over its working days, in whole centi-hours that add up
    exactly to the weekly figure (the remainder goes to the later working days)."""
    period = period_on(periods, day)
    working = sorted(set(period.working_days))
    weekday = day.isoweekday()
    if weekday not in working or not working:
        return 0
    i, n = working.index(weekday), len(working)
    return (i + 1) * period.weekly // n - i * period.weekly // n


def day_loads(periods, bookings, absences, start, end) -> list[DayLoad]:
    """Per day from ``start`` to ``end``: capacity, absence (capped at capacity), confirmed and
    tentative bookings. Bookings and absences count on working days only: the weekdays of the
    period's ``working_days``, even when the week has 0 hours (then every booked hour is excess)."""
    start, end = as_date(start), as_date(end)
    live_bookings = [b for b in bookings if b.active and not (as_date(b.ends_on) < start or as_date(b.starts_on) > end)]
    live_absences = [a for a in absences if a.active and not (as_date(a.ends_on) < start or as_date(a.starts_on) > end)]
    out = []
    for day in days_between(start, end):
        iso = day.isoformat()
        capacity = daily_capacity(periods, day)
        load = DayLoad(iso, capacity, 0, 0, 0, working=is_working_day(periods, day))
        if load.working:
            absent = 0
            for a in live_absences:
                if a.starts_on <= iso <= a.ends_on:
                    absent += capacity if a.hours_per_day is None else a.hours_per_day
            load.absence = min(absent, capacity)
            for b in live_bookings:
                if b.starts_on <= iso <= b.ends_on:
                    if b.tentative:
                        load.tentative += b.hours_per_day
                    else:
                        load.booked += b.hours_per_day
                        if b.project_id not in load.project_ids:
                            load.project_ids.append(b.project_id)
        out.append(load)
    return out


def totals(loads: list[DayLoad]) -> dict:
    return {
        "capacity": hours(sum(d.capacity for d in loads)), "absence": hours(sum(d.absence for d in loads)),
        "booked": hours(sum(d.booked for d in loads)), "tentative": hours(sum(d.tentative for d in loads)),
        "free": hours(sum(d.free for d in loads)), "excess": hours(sum(d.excess for d in loads)),
    }


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


@dataclass
class FreeTime:
    """A resource's free time over a range, counted on its working days."""

    resource: "Resource"
    free: int  # centi-hours over the range
    least: int  # the smallest free day
    days: int  # working days

    def to_dict(self) -> dict:
        r = self.resource
        return {"resource_id": r.id, "name": r.name, "email": r.email, "title": r.title, "skills": r.skills,
                "free_hours": hours(self.free), "min_free_hours_per_day": hours(self.least),
                "working_days": self.days}


def free_time(resources, skills, start, end, hours_per_day: int) -> list[FreeTime]:
    """The resources with every ``skills`` and at least ``hours_per_day`` free on each working day of the range
    (one working day at least), the most free hours first, then by name."""
    wanted, found = set(skills), []
    for resource in resources:
        if not wanted <= set(resource.skills):
            continue
        working = [d for d in resource.loads(start, end) if d.working]
        if not working or any(d.free < hours_per_day for d in working):
            continue
        found.append(FreeTime(resource, sum(d.free for d in working), min(d.free for d in working), len(working)))
    return sorted(found, key=lambda f: (-f.free, f.resource.name or "", f.resource.id))


def utilisation(resources, start, end, logged: dict, named: bool = False) -> list[dict]:
    """Planned against logged hours over a range, per resource. ``logged``: resource id -> (centi-hours logged in
    the range, the billable part). A deactivated resource with nothing booked or logged is left out, unless
    ``named`` (the report was asked for that one resource)."""
    out = []
    for resource in resources:
        loads = resource.loads(start, end)
        capacity, absence = sum(d.capacity for d in loads), sum(d.absence for d in loads)
        booked, tentative = sum(d.booked for d in loads), sum(d.tentative for d in loads)
        logged_hours, billable = logged.get(resource.id, (0, 0))
        if not (named or resource.active or booked or tentative or logged_hours):
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
    return out


# -- the aggregate ------------------------------------------------------------------------------
class Resource(CostRates, Aggregate):
    category = "resource"

    def __init__(self, id):
        super().__init__(id)
        self.name = self.email = self.title = None
        self.skills: list[str] = []
        self.active = False
        self.periods: list[CapacityPeriod] = []
        self.bookings: dict[str, Booking] = {}
        self.absences: dict[str, Absence] = {}

    # -- views of the state -------------------------------------------------------------------
    def loads(self, start, end) -> list[DayLoad]:
        return day_loads(self.periods, self.bookings.values(), self.absences.values(), start, end)

    def capacity_on(self, day) -> CapacityPeriod:
        return period_on(self.periods, as_date(day))

    def to_dict(self, today: str) -> dict:
        """As of ``today``: the weekly capacity and working days in effect then."""
        current = self.capacity_on(today) if self.periods else None
        return {
            "id": self.id, "name": self.name, "email": self.email, "title": self.title, "skills": list(self.skills),
            "active": self.active,
            "weekly_capacity_hours": hours(current.weekly) if current else None,
            "working_days": list(current.working_days) if current else [],
            "capacity_periods": [
                {"effective_from": p.effective_from, "weekly_capacity_hours": hours(p.weekly),
                 "working_days": list(p.working_days)} for p in self.periods
            ],
            "version": self.version,
        }

    def to_state(self) -> dict:
        """A JSON snapshot, so a read model can keep applying events with the same handlers."""
        return {
            "name": self.name, "email": self.email, "title": self.title, "skills": self.skills,
            "active": self.active, "version": self.version,
            "periods": [vars(p) for p in self.periods],
            "bookings": [vars(b) for b in self.bookings.values()],
            "absences": [vars(a) for a in self.absences.values()],
        }

    @classmethod
    def from_state(cls, id, state: dict) -> "Resource":
        r = cls(id)
        r.name, r.email, r.title = state["name"], state["email"], state["title"]
        r.skills, r.active, r.version = list(state["skills"]), state["active"], state["version"]
        r.periods = [CapacityPeriod(**p) for p in state["periods"]]
        r.bookings = {b["id"]: Booking(**b) for b in state["bookings"]}
        r.absences = {a["id"]: Absence(**a) for a in state["absences"]}
        return r

    # -- rules ----------------------------------------------------------------------------------
    def _must_exist(self):
        if not self.exists:
            raise NotFound(f"resource {self.id} not found", code="resource.not_found")

    def _must_be_active(self):
        self._must_exist()
        if not self.active:
            raise RuleViolation(f"resource {self.id} is deactivated", code="resource.inactive")

    def _flag_overbooking(self, before: list[DayLoad], stretches, trigger: dict):
        """Record ResourceOverbooked for the working days (in ``stretches``: ``[(start, end)]``) whose excess
        grew with this change."""
        was = {d.date: d.excess for d in before}
        days = [d for start, end in stretches for d in self.loads(start, end) if d.excess > was.get(d.date, 0)]
        if days:
            self.record(
                "ResourceOverbooked", resource_id=self.id,
                days=[{"date": d.date, "capacity_hours": hours(d.capacity), "absence_hours": hours(d.absence),
                       "booked_hours": hours(d.booked), "excess_hours": hours(d.excess),
                       "project_ids": list(d.project_ids)} for d in days],
                excess_hours=hours(sum(d.excess for d in days)), trigger=trigger,
            )

    def _booked_stretches(self, start: str) -> list[tuple[str, str]]:
        """The days from ``start`` on that live confirmed bookings cover, as disjoint sorted ``(first, last)``
        stretches: only there can a day have excess, so a capacity change walks these days and no others."""
        ranges = sorted((max(b.starts_on, start), b.ends_on) for b in self.bookings.values()
                        if b.active and not b.tentative and b.ends_on >= start)
        merged: list[list[str]] = []
        for first, last in ranges:
            if merged and first <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        return [(first, last) for first, last in merged]

    # -- commands -------------------------------------------------------------------------------
    def register(self, name, email, weekly_capacity, skills, working_days, title=None):
        if self.exists:
            raise Conflict(f"resource {self.id} is already registered", code="resource.already_registered")
        problem = too_much_per_day(weekly_capacity, working_days)
        if problem:
            raise ValidationError(errors={"weekly_capacity_hours": [problem], "working_days": [problem]})
        self.record(
            "ResourceRegistered", resource_id=self.id, name=name, email=email,
            weekly_capacity_hours=hours(weekly_capacity), skills=sorted(set(skills)),
            working_days=sorted(set(working_days)), title=title,
        )

    def capacity_change(self, changes: dict, effective_from: str | None):
        """The capacity period this update would start, ``(previous, weekly, working_days)``, or None when
        capacity and working days stay as they are on ``effective_from``. No side effects, so a caller may
        check an update before doing anything else. A day of more than 24 h is a ValidationError on the
        fields the update gives (the other one is taken as of ``effective_from``)."""
        if "weekly_capacity" not in changes and "working_days" not in changes:
            return None
        if effective_from is None:
            raise RuleViolation("a capacity change needs effective_from", code="resource.effective_from_missing")
        at = self.capacity_on(effective_from)
        weekly = changes.get("weekly_capacity", at.weekly)
        working = sorted(set(changes.get("working_days", at.working_days)))
        if weekly == at.weekly and working == sorted(at.working_days):
            return None
        problem = too_much_per_day(weekly, working)
        if problem:
            given_fields = [name for name, key in (("weekly_capacity_hours", "weekly_capacity"),
                                                   ("working_days", "working_days")) if key in changes]
            raise ValidationError(errors={name: [problem] for name in given_fields})
        return at, weekly, working

    def update(self, changes: dict, effective_from: str | None):
        """``changes``: name, email, title, skills, weekly_capacity (centi), working_days.
        Capacity and working days take effect from ``effective_from``."""
        self._must_be_active()
        new, old = {}, {}
        for key in ("name", "email", "title"):
            if key in changes and changes[key] != getattr(self, key):
                new[key], old[key] = changes[key], getattr(self, key)
        if "skills" in changes and sorted(set(changes["skills"])) != self.skills:
            new["skills"], old["skills"] = sorted(set(changes["skills"])), list(self.skills)
        capacity = self.capacity_change(changes, effective_from)
        capacity_changed = capacity is not None
        if capacity_changed:
            at, weekly, working = capacity
            if weekly != at.weekly:
                new["weekly_capacity_hours"], old["weekly_capacity_hours"] = hours(weekly), hours(at.weekly)
            if working != sorted(at.working_days):
                new["working_days"], old["working_days"] = working, sorted(at.working_days)
        if not new:
            return  # nothing changes: nothing to record
        stretches = self._booked_stretches(effective_from) if capacity_changed else []
        before = [d for first, last in stretches for d in self.loads(first, last)]
        self.record("ResourceUpdated", resource_id=self.id, changes=new, previous=old,
                    effective_from=effective_from if capacity_changed else None)
        if stretches:
            self._flag_overbooking(before, stretches, {"kind": "capacity", "id": None})

    def deactivate(self, today: str):
        """Cancels the bookings after ``today``: whole if they start later, from tomorrow if they span it."""
        self._must_be_active()
        cancelled = self._cancel_after(lambda b: True, today, "resource deactivated")
        self.record("ResourceDeactivated", resource_id=self.id, cancelled_booking_ids=cancelled)

    def _cancel_after(self, which, day: str, reason: str) -> list[str]:
        if as_date(day) == date.max:
            return []  # nothing comes after 9999-12-31
        cut = (as_date(day) + timedelta(days=1)).isoformat()
        cancelled = []
        for b in sorted(self.bookings.values(), key=lambda b: (b.starts_on, b.id)):
            if not b.active or not which(b) or b.ends_on < cut:
                continue
            self.record("BookingCancelled", resource_id=self.id, booking_id=b.id, project_id=b.project_id,
                        reason=reason, cancelled_from=None if b.starts_on >= cut else cut)
            cancelled.append(b.id)
        return cancelled

    def project_ended(self, project_id: str, effective_on: str, status: str) -> list[str]:
        """A project completed or archived: its bookings after ``effective_on`` are cancelled."""
        self._must_exist()
        return self._cancel_after(lambda b: b.project_id == project_id, effective_on, f"project {status}")

    def book(self, booking_id, project_id, starts_on, ends_on, hours_per_day, tentative=False):
        self._must_be_active()
        if booking_id in self.bookings:
            raise Conflict(f"booking {booking_id} exists", code="booking.exists")
        before = self.loads(starts_on, ends_on)
        self.record("ResourceBooked", resource_id=self.id, booking_id=booking_id, project_id=project_id,
                    starts_on=starts_on, ends_on=ends_on, hours_per_day=hours(hours_per_day), tentative=tentative)
        if not tentative:
            self._flag_overbooking(before, [(starts_on, ends_on)], {"kind": "booking", "id": booking_id})

    def cancel_booking(self, booking_id, reason=None):
        self._must_exist()
        booking = self.bookings.get(booking_id)
        if booking is None:
            raise NotFound(f"booking {booking_id} not found", code="booking.not_found")
        if not booking.active:
            raise Conflict(f"booking {booking_id} is already cancelled", code="booking.already_cancelled")
        self.record("BookingCancelled", resource_id=self.id, booking_id=booking_id, project_id=booking.project_id,
                    reason=reason or "cancelled", cancelled_from=None)

    def _live_booking(self, booking_id) -> Booking:
        self._must_be_active()
        booking = self.bookings.get(booking_id)
        if booking is None:
            raise NotFound(f"booking {booking_id} not found", code="booking.not_found")
        if not booking.active:
            raise RuleViolation(f"booking {booking_id} is cancelled", code="booking.cancelled")
        return booking

    def change_booking(self, booking_id, changes: dict):
        """``changes``: any of starts_on, ends_on, hours_per_day (centi), tentative. Records the booking's new state
        with the old values of what changed (nothing when nothing changes), then flags the days, old and new,
        whose excess grew. A range checked with the other end as it is: a ValidationError on the field given."""
        booking = self._live_booking(booking_id)
        new = {key: changes.get(key, getattr(booking, key)) for key in BOOKING_FIELDS}
        previous = {key: getattr(booking, key) for key in BOOKING_FIELDS if new[key] != getattr(booking, key)}
        given = [key for key in ("starts_on", "ends_on") if key in changes]
        if new["ends_on"] < new["starts_on"]:
            raise ValidationError(errors={key: ["The booking would end before it starts."] for key in given})
        if (as_date(new["ends_on"]) - as_date(new["starts_on"])).days >= MAX_BOOKING_DAYS:
            raise ValidationError(errors={key: [f"A booking may span at most {MAX_BOOKING_DAYS} days."]
                                          for key in given})
        if not previous:
            return
        stretches = _stretches([(booking.starts_on, booking.ends_on), (new["starts_on"], new["ends_on"])])
        before = [d for first, last in stretches for d in self.loads(first, last)]
        self.record("BookingChanged", booking_id=booking_id, resource_id=self.id, project_id=booking.project_id,
                    starts_on=new["starts_on"], ends_on=new["ends_on"], hours_per_day=hours(new["hours_per_day"]),
                    tentative=new["tentative"],
                    previous={key: hours(value) if key == "hours_per_day" else value for key, value in previous.items()})
        self._flag_overbooking(before, stretches, {"kind": "booking", "id": booking_id})

    def confirm_booking(self, booking_id):
        """A tentative booking now counts as booked: the days it makes go over are flagged."""
        booking = self._live_booking(booking_id)
        if not booking.tentative:
            raise Conflict(f"booking {booking_id} is confirmed already", code="booking.already_confirmed")
        before = self.loads(booking.starts_on, booking.ends_on)
        self.record("BookingConfirmed", booking_id=booking_id, resource_id=self.id, project_id=booking.project_id)
        self._flag_overbooking(before, [(booking.starts_on, booking.ends_on)], {"kind": "booking", "id": booking_id})

    def register_absence(self, absence_id, starts_on, ends_on, kind, hours_per_day=None):
        self._must_be_active()
        if kind not in ABSENCE_KINDS:
            raise RuleViolation(f"unknown absence kind {kind}", code="absence.unknown_kind")
        if absence_id in self.absences:
            raise Conflict(f"absence {absence_id} exists", code="absence.exists")
        before = self.loads(starts_on, ends_on)
        self.record("AbsenceRegistered", resource_id=self.id, absence_id=absence_id, starts_on=starts_on,
                    ends_on=ends_on, kind=kind, hours_per_day=hours(hours_per_day))
        self._flag_overbooking(before, [(starts_on, ends_on)], {"kind": "absence", "id": absence_id})

    def cancel_absence(self, absence_id):
        self._must_exist()
        absence = self.absences.get(absence_id)
        if absence is None:
            raise NotFound(f"absence {absence_id} not found", code="absence.not_found")
        if not absence.active:
            raise Conflict(f"absence {absence_id} is already cancelled", code="absence.already_cancelled")
        self.record("AbsenceCancelled", resource_id=self.id, absence_id=absence_id)

    # -- mutations ------------------------------------------------------------------------------
    def on_ResourceRegistered(self, data):
        self.name, self.email, self.title = data["name"], data["email"], data.get("title")
        self.skills = list(data["skills"])
        self.active = True
        self.periods = [CapacityPeriod(None, centi(data["weekly_capacity_hours"]), list(data["working_days"]))]

    def on_ResourceUpdated(self, data):
        changes = data["changes"]
        for key in ("name", "email", "title", "skills"):
            if key in changes:
                setattr(self, key, changes[key])
        if "weekly_capacity_hours" in changes or "working_days" in changes:
            start = data["effective_from"]
            at = self.capacity_on(start)
            period = CapacityPeriod(
                start,
                centi(changes["weekly_capacity_hours"]) if "weekly_capacity_hours" in changes else at.weekly,
                list(changes.get("working_days", at.working_days)),
            )
            kept = [p for p in self.periods if p.effective_from != start]
            self.periods = sorted(kept + [period], key=lambda p: p.effective_from or "")

    def on_ResourceDeactivated(self, data):
        self.active = False

    def on_ResourceBooked(self, data):
        self.bookings[data["booking_id"]] = Booking(
            data["booking_id"], data["project_id"], data["starts_on"], data["ends_on"],
            centi(data["hours_per_day"]), bool(data["tentative"]),
        )

    def on_BookingCancelled(self, data):
        booking = self.bookings.get(data["booking_id"])
        if booking is None:
            return
        cut = data.get("cancelled_from")
        if cut and cut > booking.starts_on:
            booking.ends_on = (as_date(cut) - timedelta(days=1)).isoformat()  # the part before stays
        else:
            booking.active = False

    def on_BookingChanged(self, data):
        booking = self.bookings[data["booking_id"]]
        booking.starts_on, booking.ends_on = data["starts_on"], data["ends_on"]
        booking.hours_per_day, booking.tentative = centi(data["hours_per_day"]), bool(data["tentative"])

    def on_BookingConfirmed(self, data):
        self.bookings[data["booking_id"]].tentative = False

    def on_AbsenceRegistered(self, data):
        self.absences[data["absence_id"]] = Absence(
            data["absence_id"], data["starts_on"], data["ends_on"], data["kind"], centi(data.get("hours_per_day")),
        )

    def on_AbsenceCancelled(self, data):
        absence = self.absences.get(data["absence_id"])
        if absence is not None:
            absence.active = False


# -- email reservations -------------------------------------------------------------------------
def email_key(email: str) -> str:
    """The reservation key of a (lower-cased) e-mail address: fixed length, whatever the address."""
    return hashlib.sha1(email.encode()).hexdigest()


class EmailReservation(Reservation):
    """One e-mail address (keyed by ``email_key``), held by at most one resource. ``data``: ``{email}``."""

    category = "resourceemail"

    def on_EmailReserved(self, d):  # the streams written before the kit's reservations
        self.owner, self.reserved_at, self.data = d["resource_id"], d["reserved_at"], {"email": d["email"]}

    def on_EmailReleased(self, d):
        self.owner, self.reserved_at, self.data = None, None, {}
