"""Staffing views (issue 17): who is booked on a project by ISO week against their capacity and absences, every
person's week (capacity, absences, booked, tentative, logged), and partial availability.

The figures are pure functions over the resources (as the read model holds them) and the hours logged (from the
timesheet's events), built on the domain's day arithmetic (``domain.day_loads``): no nameko, no I/O, no clock.
The queries that read those facts sit at the end, functions of ``db`` like those of ``projections.py``.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from shared.validation import hours, week_of

from .domain import Resource, as_date, day_loads

MAX_WEEKS = 53  # a staffing view spans at most 53 ISO weeks: a year, whichever day it starts on


# -- weeks ----------------------------------------------------------------------------------------
def _monday(day: date) -> date:
    return day - timedelta(days=day.isoweekday() - 1)


def week_count(start, end) -> int:
    """How many ISO weeks the range from ``start`` to ``end`` touches."""
    return (_monday(as_date(end)) - _monday(as_date(start))).days // 7 + 1


def weeks(start, end) -> list[tuple[str, str, str]]:
    """The ISO weeks of the range as ``(week, first day, last day)``, the first and last cut at the range's ends."""
    day, end = as_date(start), as_date(end)
    out = []
    while True:
        to_sunday = 7 - day.isoweekday()
        last = end if (end - day).days <= to_sunday else day + timedelta(days=to_sunday)
        out.append((week_of(day), day.isoformat(), last.isoformat()))
        if last == end:
            return out
        day = last + timedelta(days=1)


def _by_employee(logged: dict) -> dict[str, dict[str, int]]:
    """``{(employee, date): centi}`` -> ``{employee: {date: centi}}``."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (employee, day), centi in logged.items():
        out[employee][day] = centi
    return out


DAY_FIGURES = ("capacity", "absence", "booked", "tentative", "free", "excess")


def _weekly(loads, spans) -> list[dict[str, int]]:
    """Per week of ``spans``: the centi-hours of each of ``DAY_FIGURES`` over its days. ``loads`` has one day load
    per day of the range, in order (``day_loads``), so each week is the next slice of it: one pass over the days."""
    out, i = [], 0
    for _, first, last in spans:
        n = (as_date(last) - as_date(first)).days + 1
        sums = dict.fromkeys(DAY_FIGURES, 0)
        for d in loads[i:i + n]:
            sums["capacity"] += d.capacity
            sums["absence"] += d.absence
            sums["booked"] += d.booked
            sums["tentative"] += d.tentative
            sums["free"] += d.free
            sums["excess"] += d.excess
        out.append(sums)
        i += n
    return out


def _week_index(spans) -> dict[str, int]:
    return {week: i for i, (week, _, _) in enumerate(spans)}


def _logged_weekly(days: dict[str, int], spans, index) -> list[int]:
    """``{date: centi}`` -> the centi-hours of each week of ``spans``."""
    out = [0] * len(spans)
    for day, centi in days.items():
        out[index[week_of(day)]] += centi
    return out


def _total(rows: list[dict]) -> dict:
    return {key: sum(row[key] for row in rows) for key in rows[0]}


def _hours(figures: dict) -> dict:
    return {f"{key}_hours": hours(value) for key, value in figures.items()}


# -- team overview --------------------------------------------------------------------------------
def _team_figures(day: dict, logged: int) -> dict:
    return {"capacity": day["capacity"], "absence": day["absence"], "available": day["capacity"] - day["absence"],
            "booked": day["booked"], "tentative": day["tentative"], "free": day["free"], "excess": day["excess"],
            "logged": logged}


def team_overview(resources, start, end, logged: dict) -> list[dict]:
    """Every person by ISO week: capacity, absence, available (capacity − absence), booked (confirmed) and tentative
    apart, free, excess and logged. ``logged``: ``{(employee, date): centi-hours}`` over every project. A deactivated
    person with nothing booked or logged in the range is left out."""
    by_employee, spans = _by_employee(logged), weeks(start, end)
    index = _week_index(spans)
    out = []
    for resource in resources:
        loads, mine = resource.loads(start, end), by_employee.get(resource.id, {})
        if not (resource.active or mine or any(d.booked or d.tentative for d in loads)):
            continue
        rows = [_team_figures(day, logged_) for day, logged_ in
                zip(_weekly(loads, spans), _logged_weekly(mine, spans, index), strict=True)]
        out.append({
            "resource_id": resource.id, "name": resource.name, "title": resource.title,
            "skills": list(resource.skills), "active": resource.active,
            "weeks": [{"week": week, "from_date": first, "to_date": last, **_hours(row)}
                      for (week, first, last), row in zip(spans, rows, strict=True)],
            "totals": _hours(_total(rows)),
        })
    return out


# -- project staffing -----------------------------------------------------------------------------
def _covered(bookings, day: str) -> bool:
    return any(b.starts_on <= day <= b.ends_on for b in bookings)


def _project_figures(day: dict, project: dict, logged: int, unbooked: int) -> dict:
    return {"capacity": day["capacity"], "absence": day["absence"], "available": day["capacity"] - day["absence"],
            "project_booked": project["booked"], "project_tentative": project["tentative"],
            "other_booked": day["booked"] - project["booked"],
            "other_tentative": day["tentative"] - project["tentative"],
            "free": day["free"], "excess": day["excess"], "logged": logged, "logged_unbooked": unbooked}


def project_staffing(resources, project_id, start, end, logged: dict) -> dict:
    """Who is booked on the project (a live booking, confirmed or tentative, in the range) and who logged hours on it,
    by ISO week: their capacity, absence, the project's booked and tentative hours, their other bookings, free,
    excess, the hours logged on the project and the part of them logged on days no booking of theirs on the project
    covers. ``logged``: ``{(employee, date): centi-hours}`` on this project; an employee no resource here is known
    by appears only under ``logged_without_booking`` (with ``name`` null)."""
    by_employee, spans = _by_employee(logged), weeks(start, end)
    index = _week_index(spans)
    people, unbooked, known = [], [], set()
    for resource in resources:
        known.add(resource.id)
        bookings = sorted((b for b in resource.bookings.values() if b.active and b.project_id == project_id
                           and b.starts_on <= end and b.ends_on >= start), key=lambda b: (b.starts_on, b.id))
        mine = by_employee.get(resource.id, {})
        if not (bookings or mine):
            continue
        outside = {day: centi for day, centi in mine.items() if not _covered(bookings, day)}
        project_loads = day_loads(resource.periods, bookings, resource.absences.values(), start, end)
        rows = [_project_figures(*week) for week in zip(
            _weekly(resource.loads(start, end), spans), _weekly(project_loads, spans),
            _logged_weekly(mine, spans, index), _logged_weekly(outside, spans, index), strict=True)]
        people.append({
            "resource_id": resource.id, "name": resource.name, "active": resource.active, "booked": bool(bookings),
            "bookings": [b.to_dict(resource.id) for b in bookings],
            "weeks": [{"week": week, "from_date": first, "to_date": last, **_hours(row)}
                      for (week, first, last), row in zip(spans, rows, strict=True)],
            "totals": _total(rows),
        })
        unbooked.append((resource, outside))
    for employee in sorted(set(by_employee) - known):
        unbooked.append((Resource(employee), by_employee[employee]))
    people.sort(key=lambda p: (p["name"] or "", p["resource_id"]))
    without = []
    for r, days in unbooked:
        if sum(days.values()):
            per_week = _logged_weekly(days, spans, index)
            without.append({"resource_id": r.id, "name": r.name, "hours": hours(sum(days.values())),
                            "weeks": [{"week": week, "hours": hours(centi)}
                                      for (week, _, _), centi in zip(spans, per_week, strict=True) if centi]})
    without.sort(key=lambda w: (w["name"] is None, w["name"] or "", w["resource_id"]))
    totals = {key: sum(p["totals"][key] for p in people) for key in ("project_booked", "project_tentative")}
    for p in people:
        p["totals"] = _hours(p["totals"])
    return {
        "people": people, "logged_without_booking": without,
        "totals": {**_hours(totals), "logged_hours": hours(sum(logged.values())),
                   "logged_unbooked_hours": hours(sum(sum(days.values()) for _, days in unbooked))},
    }


# -- partial availability -------------------------------------------------------------------------
@dataclass
class Coverage:
    """How much of a request (``hours_per_day`` on each of the person's working days in the range) a person's free
    time covers: on each working day, the free hours up to the hours asked."""

    resource: Resource
    free: int  # centi-hours free over the range
    least: int  # the smallest free working day
    days: int  # working days
    requested: int
    covered: int

    @property
    def percent(self) -> Decimal:
        return (Decimal(self.covered * 100) / Decimal(self.requested)).quantize(Decimal("0.01"), ROUND_HALF_UP)

    def to_dict(self) -> dict:
        r = self.resource
        return {"resource_id": r.id, "name": r.name, "email": r.email, "title": r.title, "skills": r.skills,
                "free_hours": hours(self.free), "min_free_hours_per_day": hours(self.least),
                "working_days": self.days, "requested_hours": hours(self.requested),
                "covered_hours": hours(self.covered), "coverage_percent": float(self.percent),
                "full_match": self.covered == self.requested}


def partial_free_time(resources, skills, start, end, hours_per_day: int, min_coverage=None) -> list[Coverage]:
    """The resources with every ``skills`` that cover some of the request (at least ``min_coverage`` percent of it
    when given; 100 is the all-or-nothing match), the most free hours over the range first, then the most covered,
    then by name. Nobody with no working day in the range (nothing asked of them) or covering nothing is listed."""
    wanted, found = set(skills), []
    for resource in resources:
        if not wanted <= set(resource.skills):
            continue
        working = [d for d in resource.loads(start, end) if d.working]
        if not working:
            continue
        requested = hours_per_day * len(working)
        covered = sum(min(d.free, hours_per_day) for d in working)
        if not covered or (min_coverage is not None and covered * 100 < Decimal(str(min_coverage)) * requested):
            continue
        found.append(Coverage(resource, sum(d.free for d in working), min(d.free for d in working), len(working),
                              requested, covered))
    return sorted(found, key=lambda c: (-c.free, -c.covered, c.resource.name or "", c.resource.id))


# -- queries (functions of ``db``, through ``ChronicleHandle.query``) ------------------------------
def resources_by_id(db, resource_ids) -> list[Resource]:
    """The resources the read model holds among ``resource_ids``, by name."""
    rows = db.execute("SELECT resource_id, state FROM resources WHERE resource_id IN (SELECT value FROM json_each(?))"
                      " ORDER BY name, resource_id", (json.dumps(sorted(resource_ids)),)).fetchall()
    return [Resource.from_state(r[0], json.loads(r[1])) for r in rows]


def logged_by_day(db, start, end, project_id=None) -> dict[tuple[str, str], int]:
    """``{(employee, date): centi-hours}`` logged from ``start`` to ``end``, on one project or on all."""
    sql = ("SELECT employee_id, date, SUM(hours) FROM resource_time_entries WHERE deleted = 0 AND date BETWEEN ? AND ?"
           + (" AND project_id = ?" if project_id is not None else "") + " GROUP BY employee_id, date")
    params = (start, end, project_id) if project_id is not None else (start, end)
    return {(r[0], r[1]): r[2] for r in db.execute(sql, params) if r[0] is not None and r[2]}
