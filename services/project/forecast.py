"""Forecast and health: pure arithmetic over a project's facts. No nameko, no I/O, no clock: ``today`` is passed in.

Hours are integer centi-hours throughout (exact sums); money is Decimal, rounded half up to cents only when shown.

- Actuals: every hour logged on the project (time entries). Money: each billable entry priced at the billing rate in
  force on its date (``rate``: the member's, else the task's, the project's, the client's; ``shared.money``), rounded
  half up to cents per entry as the project's progress prices it; non-billable hours add nothing.
- Planned hours: each booking's hours per day on each working day of the booked person (their calendar's
  ``working_days``, Monday to Friday when unknown). An absence reduces a day's planned hours to what it leaves of
  the person's capacity that day (a whole-day absence: to 0); confirmed bookings are kept before tentative ones.
- Ahead: planned hours on the days after ``today``. Estimate at completion (EAC) = actual + planned ahead. Planned
  money: each booked day priced like an entry (billable as its task, else as the project).
- Variance = budget - EAC: negative when the forecast is over the budget.
- Phases: an hour belongs to its task's phase, else to the phase whose dates hold its day (the first by position),
  else to no phase ("unphased").
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

from shared.money import amount

from .domain import Project

CENT = Decimal("0.01")
MONDAY_TO_FRIDAY = (1, 2, 3, 4, 5)
AMBER_SHARE = Decimal("0.9")  # a forecast at 90 % of a budget or more is amber
AT_RISK_DAYS = 7  # an open milestone due within a week is at risk
DEFAULT_WAITING_DAYS = 3


# -- facts ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    employee_id: str
    day: str
    centi: int
    task_id: str | None = None
    billable: bool = True


@dataclass(frozen=True)
class Booking:
    booking_id: str
    resource_id: str
    starts_on: str
    ends_on: str
    per_day: int  # centi-hours on each working day
    tentative: bool = False
    task_id: str | None = None


@dataclass(frozen=True)
class Absence:
    resource_id: str
    starts_on: str
    ends_on: str
    per_day: int | None  # None: whole days


@dataclass(frozen=True)
class Calendar:
    """A person's working week from ``effective_from`` (None: from the start)."""

    effective_from: str | None
    weekly: int  # centi-hours
    working_days: tuple[int, ...]


@dataclass(frozen=True)
class Phase:
    phase_id: str
    name: str
    starts_on: str | None
    ends_on: str | None
    budget_centi: int | None
    budget_amount: Decimal | None
    position: int = 0


@dataclass
class Facts:
    """What the forecast of one project is computed from."""

    budget_centi: int | None = None
    budget_amount: Decimal | None = None
    starts_on: str | None = None
    ends_on: str | None = None
    entries: list[Entry] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    absences: list[Absence] = field(default_factory=list)
    calendars: dict[str, list[Calendar]] = field(default_factory=dict)  # resource_id -> by effective_from
    phases: list[Phase] = field(default_factory=list)
    task_phases: dict[str, str] = field(default_factory=dict)  # task_id -> phase_id
    billable: bool = True  # the project's setting
    task_billable: dict[str, bool] = field(default_factory=dict)  # task_id -> its own setting (none: the project's)
    # the billing rate of an hour of a person on a day (on a task or None); None: no rate
    rate: Callable[[str, str, str | None], Decimal | None] = lambda person, day, task_id: None


@dataclass(frozen=True)
class Planned:
    """Hours one booking plans on one day."""

    day: str
    resource_id: str
    booking_id: str
    task_id: str | None
    centi: int
    tentative: bool


# -- small helpers --------------------------------------------------------------------------------
def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def money(value: Decimal | None) -> str | None:
    """A Decimal as a string with 2 decimals, rounded half up; None stays None."""
    return None if value is None else str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def hours_text(centi: int) -> str:
    """Centi-hours as a decimal string with 2 decimals (the events' figures): 11250 -> "112.50"."""
    return str((Decimal(centi) / 100).quantize(CENT))


def _calendar_on(calendars: list[Calendar] | None, day: date) -> Calendar | None:
    current = None
    for calendar in calendars or ():
        if calendar.effective_from is None or as_date(calendar.effective_from) <= day:
            current = calendar
    return current


def working_days_on(calendars, day: date) -> tuple[int, ...]:
    calendar = _calendar_on(calendars, day)
    return MONDAY_TO_FRIDAY if calendar is None else tuple(calendar.working_days)


def capacity_on(calendars, day: date) -> int | None:
    """The week's capacity spread over its working days in whole centi-hours that add up to the week (the
    remainder on the later days); None when the person's calendar is unknown."""
    calendar = _calendar_on(calendars, day)
    if calendar is None:
        return None
    working = sorted(set(calendar.working_days))
    if day.isoweekday() not in working:
        return 0
    i, n = working.index(day.isoweekday()), len(working)
    return (i + 1) * calendar.weekly // n - i * calendar.weekly // n


# -- planned hours --------------------------------------------------------------------------------
def planned(facts: Facts, start: date | None = None, end: date | None = None) -> list[Planned]:
    """The hours the bookings plan on each working day from ``start`` to ``end`` (inclusive; None: unbounded),
    less what absences take (see the module's doc). Sorted by day, person, booking."""
    booked: dict[tuple[str, date], list[Booking]] = defaultdict(list)
    for b in sorted(facts.bookings, key=lambda b: (b.tentative, b.starts_on, b.booking_id)):  # confirmed first
        first, last = as_date(b.starts_on), as_date(b.ends_on)
        if start is not None:
            first = max(first, start)
        if end is not None:
            last = min(last, end)
        calendars = facts.calendars.get(b.resource_id)
        for day in days(first, last):
            if day.isoweekday() in working_days_on(calendars, day):
                booked[(b.resource_id, day)].append(b)
    absences = defaultdict(list)
    for a in facts.absences:
        absences[a.resource_id].append(a)
    out = []
    for (resource_id, day), bookings in booked.items():
        left = None  # no absence: every booked hour stays
        absent = [a for a in absences.get(resource_id, ()) if as_date(a.starts_on) <= day <= as_date(a.ends_on)]
        if absent:
            capacity = capacity_on(facts.calendars.get(resource_id), day)
            if capacity is None:  # unknown calendar: the day is as long as its booked hours
                capacity = sum(b.per_day for b in bookings)
            taken = sum(capacity if a.per_day is None else a.per_day for a in absent)
            left = max(0, capacity - taken)
        for b in bookings:
            centi = b.per_day if left is None else min(b.per_day, left)
            if left is not None:
                left -= centi
            if centi:
                out.append(Planned(day.isoformat(), resource_id, b.booking_id, b.task_id, centi, b.tentative))
    return sorted(out, key=lambda p: (p.day, p.resource_id, p.booking_id))


# -- phases ---------------------------------------------------------------------------------------
def phase_of(facts: Facts, task_id: str | None, day: str | None) -> str | None:
    """The phase of an hour: its task's, else the one whose dates hold its day (the first by position)."""
    if task_id and task_id in facts.task_phases:
        return facts.task_phases[task_id]
    if day is None:
        return None
    for phase in sorted(facts.phases, key=lambda p: (p.position, p.phase_id)):
        if phase.starts_on and phase.ends_on and phase.starts_on <= day <= phase.ends_on:
            return phase.phase_id
    return None


# -- the forecast ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Actual:
    """What some logged hours add up to: centi-hours, their money (the sum of each billable entry priced and rounded
    on its own; None when no billable entry has a rate) and the billable centi-hours without a rate."""

    centi: int = 0
    amount: Decimal | None = None
    unpriced_centi: int = 0

    def __add__(self, other: "Actual") -> "Actual":
        amount_ = self.amount if other.amount is None else (
            other.amount if self.amount is None else self.amount + other.amount)
        return Actual(self.centi + other.centi, amount_, self.unpriced_centi + other.unpriced_centi)


def actuals(facts: Facts) -> dict[str | None, Actual]:
    """The entries' actuals by phase (``phase_of``; None: no phase). The read model keeps the same sums as the
    entries change (``projections.actuals``), so the watch need not read and price every entry."""
    groups: dict[str | None, list[Entry]] = defaultdict(list)
    for e in facts.entries:
        groups[phase_of(facts, e.task_id, e.day) if facts.phases else None].append(e)
    out = {}
    for phase_id, entries in groups.items():
        amount_, unpriced = _priced(facts.rate, _entry_rows(entries))
        out[phase_id] = Actual(sum(e.centi for e in entries), amount_, unpriced)
    return out


def _entry_rows(entries: list[Entry]) -> list[tuple]:
    return [(e.employee_id, e.day, e.centi, e.task_id, e.billable) for e in entries]


def _planned_rows(facts: Facts, planned_: list[Planned]) -> list[tuple]:
    return [(p.resource_id, p.day, p.centi, p.task_id, facts.task_billable.get(p.task_id, facts.billable))
            for p in planned_]


def _priced(rate, rows) -> tuple[Decimal | None, int]:
    """(amount, unpriced centi-hours) of ``rows``: (person, day, centi, task_id, billable); each billable row priced
    at its rate and rounded to cents (``shared.money.amount``), a non-billable one at nothing. The amount is None
    when no billable row has a rate; unpriced: the billable hours without one."""
    total, unpriced, any_priced = Decimal("0.00"), 0, False
    for person, day, centi, task_id, billable in rows:
        if not billable:
            continue
        price = rate(person, day, task_id)
        if price is None:
            unpriced += centi
        else:
            total += amount(Decimal(centi) / 100, price)
            any_priced = True
    return (total if any_priced else None), unpriced


def figures(facts: Facts, actual: Actual, ahead: list[Planned], budget_centi: int | None,
            budget_amount: Decimal | None) -> dict:
    """Actual, planned ahead, estimate at completion and variance of some hours against a budget."""
    ahead_centi = sum(p.centi for p in ahead)
    planned_amount, planned_unpriced = _priced(facts.rate, _planned_rows(facts, ahead))
    eac = actual.centi + ahead_centi
    eac_amount = None
    if actual.amount is not None or planned_amount is not None:
        eac_amount = (actual.amount or Decimal("0")) + (planned_amount or Decimal("0"))
    rounded_eac = None if eac_amount is None else eac_amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return {
        "actual_centi": actual.centi,
        "planned_centi": ahead_centi,
        "tentative_centi": sum(p.centi for p in ahead if p.tentative),
        "eac_centi": eac,
        "budget_centi": budget_centi,
        "variance_centi": None if budget_centi is None else budget_centi - eac,
        "actual_amount": actual.amount,
        "planned_amount": planned_amount,
        "eac_amount": rounded_eac,
        "budget_amount": budget_amount,
        "variance_amount": None if budget_amount is None or rounded_eac is None else budget_amount - rounded_eac,
        "unpriced_centi": actual.unpriced_centi + planned_unpriced,
    }


def forecast(facts: Facts, today: date, actual: dict[str | None, Actual] | None = None) -> dict:
    """The project's figures and, per phase, the same (``phases``, by position; ``unphased``: hours of no phase,
    when the project has phases). ``actual``: the logged hours by phase as ``actuals`` gives them (None: worked
    out from ``facts.entries``)."""
    actual = actuals(facts) if actual is None else actual
    ahead = planned(facts, start=today + timedelta(days=1))
    whole = figures(facts, sum(actual.values(), Actual()), ahead, facts.budget_centi, facts.budget_amount)
    phases, unphased = [], None
    if facts.phases:
        ahead_of = defaultdict(list)
        for p in ahead:
            ahead_of[phase_of(facts, p.task_id, p.day)].append(p)
        for phase in sorted(facts.phases, key=lambda p: (p.position, p.phase_id)):
            phases.append({"phase_id": phase.phase_id, "name": phase.name,
                           **figures(facts, actual.get(phase.phase_id, Actual()), ahead_of[phase.phase_id],
                                     phase.budget_centi, phase.budget_amount)})
        unphased = figures(facts, actual.get(None, Actual()), ahead_of[None], None, None)
    return {"today": today.isoformat(), **whole, "phases": phases, "unphased": unphased}


def over_budget(figures_: dict) -> list[tuple[str, Decimal, Decimal]]:
    """Each budget of these figures, measured: [(budget "hours"|"money", forecast, budget value)]; a budget not
    set (or money not priced) is not measured."""
    measured = []
    if figures_["budget_centi"] is not None:
        measured.append(("hours", Decimal(figures_["eac_centi"]) / 100, Decimal(figures_["budget_centi"]) / 100))
    if figures_["budget_amount"] is not None and figures_["eac_amount"] is not None:
        measured.append(("money", figures_["eac_amount"], Decimal(figures_["budget_amount"])))
    return measured


def measures(result: dict) -> list[tuple[str | None, str, Decimal, Decimal]]:
    """Every budget of a forecast, measured: [(phase_id or None, budget, forecast, budget value)]."""
    out = [(None, budget, value, limit) for budget, value, limit in over_budget(result)]
    for phase in result["phases"]:
        out += [(phase["phase_id"], budget, value, limit) for budget, value, limit in over_budget(phase)]
    return out


# -- burn -----------------------------------------------------------------------------------------
def _period_of(day: date, interval: str) -> tuple[str, date, date]:
    if interval == "week":
        monday = day - timedelta(days=day.isoweekday() - 1)
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}", monday, monday + timedelta(days=6)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return f"{day.year:04d}-{day.month:02d}", first, following - timedelta(days=1)


def burn(facts: Facts, today: date, interval: str) -> list[dict]:
    """Per week or month, from the project's start (or its first hour) to its end (or its last): the hours logged
    and planned in the period, both cumulated, the forecast (logged to ``today``, planned after it) cumulated to
    the period's end, and how much of the budget the logged hours have burnt."""
    plan = planned(facts)
    known = [as_date(e.day) for e in facts.entries] + [as_date(p.day) for p in plan]
    bounds = [as_date(d) for d in (facts.starts_on, facts.ends_on) if d]
    if not known and not bounds:
        return []
    first = as_date(facts.starts_on) if facts.starts_on else min(known)
    last = as_date(facts.ends_on) if facts.ends_on else max(known)
    first, last = min([first, *known]), max([last, *known])
    actual_by, planned_by, ahead_by = defaultdict(int), defaultdict(int), defaultdict(int)
    actual_money, planned_money, ahead_money = defaultdict(list), defaultdict(list), defaultdict(list)
    for e in facts.entries:
        key = _period_of(as_date(e.day), interval)[0]
        actual_by[key] += e.centi
        actual_money[key] += _entry_rows([e])
    for p in plan:
        key = _period_of(as_date(p.day), interval)[0]
        planned_by[key] += p.centi
        planned_money[key] += _planned_rows(facts, [p])
        if as_date(p.day) > today:
            ahead_by[key] += p.centi
            ahead_money[key] += _planned_rows(facts, [p])
    series, day = [], first
    cumulative = {"actual": 0, "planned": 0, "ahead": 0}
    cumulative_money = {"actual": Decimal("0"), "planned": Decimal("0"), "ahead": Decimal("0")}
    priced = False
    while day <= last:
        key, starts, ends = _period_of(day, interval)
        cumulative["actual"] += actual_by[key]
        cumulative["planned"] += planned_by[key]
        cumulative["ahead"] += ahead_by[key]
        row_money = {}
        for name, rows in (("actual", actual_money[key]), ("planned", planned_money[key]),
                           ("ahead", ahead_money[key])):
            amount, _ = _priced(facts.rate, rows)
            priced = priced or amount is not None
            row_money[name] = amount or Decimal("0")
            cumulative_money[name] += row_money[name]
        logged_to_date = cumulative["actual"]  # hours are logged up to today: the rest of the forecast is planned
        series.append({
            "period": key, "starts_on": starts.isoformat(), "ends_on": ends.isoformat(),
            "actual_centi": actual_by[key], "planned_centi": planned_by[key],
            "cumulative_actual_centi": cumulative["actual"], "cumulative_planned_centi": cumulative["planned"],
            "forecast_centi": logged_to_date + cumulative["ahead"],
            "budget_centi": facts.budget_centi,
            "burn_percent": _percent(cumulative["actual"], facts.budget_centi),
            "actual_amount": row_money["actual"], "planned_amount": row_money["planned"],
            "cumulative_actual_amount": cumulative_money["actual"],
            "cumulative_planned_amount": cumulative_money["planned"],
            "forecast_amount": cumulative_money["actual"] + cumulative_money["ahead"],
            "budget_amount": facts.budget_amount,
        })
        day = ends + timedelta(days=1)
    if not priced:
        for row in series:
            for name in ("actual_amount", "planned_amount", "cumulative_actual_amount", "cumulative_planned_amount",
                         "forecast_amount"):
                row[name] = None
    return series


def _percent(part: int, whole: int | None) -> float | None:
    if not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


# -- health ---------------------------------------------------------------------------------------
GREEN, AMBER, RED = "green", "amber", "red"
_ORDER = {GREEN: 0, AMBER: 1, RED: 2}


def _rag(status: str, reason: str) -> dict:
    return {"status": status, "reason": reason}


def _listed(items: list[str], most: int = 3) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def schedule_health(milestones: list[dict], today: date) -> dict:
    """Milestones: {name, due_on, status open|done|missed}. Red: one missed (or open past its date); amber: one
    open and due within a week; green otherwise."""
    missed = [m for m in milestones if m["status"] == "missed"
              or (m["status"] == "open" and m.get("due_on") and as_date(m["due_on"]) < today)]
    if missed:
        return _rag(RED, f"{len(missed)} milestone(s) missed: "
                         + _listed([f"{m['name']} (due {m['due_on']})" for m in missed]))
    soon = [m for m in milestones if m["status"] == "open" and m.get("due_on")
            and today <= as_date(m["due_on"]) <= today + timedelta(days=AT_RISK_DAYS)]
    if soon:
        return _rag(AMBER, f"{len(soon)} open milestone(s) due within {AT_RISK_DAYS} days: "
                           + _listed([f"{m['name']} (due {m['due_on']})" for m in soon]))
    if not milestones:
        return _rag(GREEN, "no milestones")
    return _rag(GREEN, "no milestone missed or due within 7 days")


def _unit(budget: str, value: Decimal) -> str:
    return f"{value.quantize(CENT)} h" if budget == "hours" else f"{value.quantize(CENT)}"


def budget_health(result: dict) -> dict:
    """Red: the forecast is over a budget (the project's or a phase's); amber: at 90 % of one or more; green
    otherwise."""
    names = {p["phase_id"]: p["name"] for p in result["phases"]}
    over, close = [], []
    for phase_id, budget, value, limit in measures(result):
        what = "the project" if phase_id is None else f"phase {names[phase_id]}"
        text = f"{what}: forecast {_unit(budget, value)} against a budget of {_unit(budget, limit)}"
        if value > limit:
            over.append(text)
        elif value >= limit * AMBER_SHARE:
            close.append(text)
    if over:
        return _rag(RED, "forecast over budget: " + _listed(over))
    if close:
        return _rag(AMBER, "forecast at 90 % of the budget or more: " + _listed(close))
    if not measures(result):
        return _rag(GREEN, "no budget set")
    return _rag(GREEN, "forecast within budget")


def _workable(facts: Facts, day: date) -> bool:
    """A day someone could be booked on: Monday to Friday, or a working day of someone known to the project."""
    return day.isoweekday() in MONDAY_TO_FRIDAY or any(
        day.isoweekday() in working_days_on(calendars, day) for calendars in facts.calendars.values())


def staffing_health(facts: Facts, today: date) -> dict:
    """The weeks after today up to the project's end with no planned hours (a week with no working day left in it,
    a weekend, is none to staff). Red: every one of them; amber: some; green: none (or no end date, or the project
    has ended, or no working day is left before it does)."""
    if not facts.ends_on:
        return _rag(GREEN, "no end date: no weeks ahead to staff")
    first, last = today + timedelta(days=1), as_date(facts.ends_on)
    if last < first:
        return _rag(GREEN, "the project has ended: no weeks ahead to staff")
    weeks = []
    day = first
    while day <= last:
        key, _, ends = _period_of(day, "week")
        if any(_workable(facts, d) for d in days(day, min(ends, last))):  # a weekend left of the week: nothing
            weeks.append((key, day, min(ends, last)))
        day = ends + timedelta(days=1)
    if not weeks:
        return _rag(GREEN, f"no working day left up to {facts.ends_on}: no weeks ahead to staff")
    plan = planned(facts, start=first, end=last)
    booked = {_period_of(as_date(p.day), "week")[0] for p in plan}
    unbooked = [key for key, _, _ in weeks if key not in booked]
    if not unbooked:
        return _rag(GREEN, f"every week up to {facts.ends_on} is booked")
    if len(unbooked) == len(weeks):
        return _rag(RED, f"no week up to {facts.ends_on} is booked: " + _listed(unbooked))
    return _rag(AMBER, f"{len(unbooked)} of {len(weeks)} weeks up to {facts.ends_on} unbooked: "
                       + _listed(unbooked))


def working_days_between(since: date, today: date) -> int:
    """Monday-to-Friday days after ``since`` up to and including ``today``."""
    return sum(1 for day in days(since + timedelta(days=1), today) if day.isoweekday() <= 5)


def approvals_health(waiting: list[dict], today: date, waiting_days: int = DEFAULT_WAITING_DAYS) -> dict:
    """Weeks submitted and not yet approved or rejected: {employee_id, week, submitted_on}. Amber: one waits more
    than ``waiting_days`` working days; red: more than twice that; green otherwise."""
    waits = sorted(((working_days_between(as_date(w["submitted_on"]), today), w) for w in waiting),
                   key=lambda x: (-x[0], x[1]["week"], x[1]["employee_id"]))
    late = [(n, w) for n, w in waits if n > waiting_days]
    if not late:
        return _rag(GREEN, f"no week waiting more than {waiting_days} working days for approval")
    status = RED if late[0][0] > 2 * waiting_days else AMBER
    return _rag(status, f"{len(late)} week(s) waiting more than {waiting_days} working days for approval: "
                        + _listed([f"{w['week']} of {w['employee_id']} ({n} days)" for n, w in late]))


def health(facts: Facts, result: dict, milestones: list[dict], waiting: list[dict], today: date,
           waiting_days: int = DEFAULT_WAITING_DAYS) -> dict:
    parts = {
        "schedule": schedule_health(milestones, today),
        "budget": budget_health(result),
        "staffing": staffing_health(facts, today),
        "approvals": approvals_health(waiting, today, waiting_days),
    }
    worst = max((p["status"] for p in parts.values()), key=_ORDER.__getitem__)
    return {"today": today.isoformat(), "overall": worst, **parts}


# -- the watch's state ----------------------------------------------------------------------------
class ForecastWatch(Project):
    """The project (its stream) as the forecast watch sees it: which of its budgets the forecast is over now.
    ``note_forecast`` records each crossing once, and the drop back within, so the next crossing counts again."""

    def __init__(self, id):
        super().__init__(id)
        self.over: set[tuple[str | None, str]] = set()

    def note_forecast(self, measured):
        """``measured``: [(phase_id or None, budget "hours"|"money", forecast, budget value)] as Decimals."""
        if not self.exists:
            return
        for phase_id, budget, value, limit in measured:
            key = (phase_id, budget)
            data = dict(project_id=self.id, phase_id=phase_id, budget=budget, forecast=str(value.quantize(CENT)),
                        budget_value=str(limit.quantize(CENT)), manager_id=self.manager_id)
            if value > limit and key not in self.over:
                self.record("ForecastOverBudget", **data)
            elif value <= limit and key in self.over:
                self.record("ForecastBackWithinBudget", **data)

    def on_ForecastOverBudget(self, d):
        self.over.add((d["phase_id"], d["budget"]))

    def on_ForecastBackWithinBudget(self, d):
        self.over.discard((d["phase_id"], d["budget"]))
