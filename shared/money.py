"""Money and rates: pure, no I/O, no clock. The one place where an hour becomes an amount.

- Money is ``Decimal``, rounded half up to cents (``money``), and travels as a string with 2 decimals
  (``as_str``). There is no conversion between currencies: figures in several currencies are grouped by currency.
- A rate changes from a date (``RateHistory``): an hour is priced at the rate in force on its own date, so a
  change from a date reprices only the hours on or after it. A rate with no date (the ``hourly_rate`` of projects
  and members recorded before rates had dates) applies from the start. A rate of None from a date removes the rate
  from then on.
- The billing rate of an hour is the member's rate on the project, else the task's, else the project's, else the
  client's default (``billing_rate``); the cost rate is the person's (set in the resource service).
- ``price`` gives an hour's (billable_amount, cost_amount): 0.00 billable for non-billable hours; a missing rate
  prices at 0.00, and whoever shows the figures says that the rate is missing.
"""
from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

LEVELS = ("member", "task", "project", "client")  # where a billing rate comes from, first match wins


def money(value) -> Decimal:
    """``value`` (Decimal, int, str or float) as Decimal cents, rounded half up: 0.005 -> 0.01, 2.675 -> 2.68.
    A float is read as its shortest repr (2.675 is "2.675", not 2.67499...)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not an amount: {value!r}")
    dec = value if isinstance(value, Decimal) else Decimal(str(value))
    return dec.quantize(CENT, rounding=ROUND_HALF_UP)


def amount(hours, rate) -> Decimal:
    """hours x rate, rounded half up to cents (the product is exact first, then rounded once)."""
    return money(_dec(hours) * _dec(rate))


def as_str(value) -> str | None:
    """An amount as it travels: a string with 2 decimals ("1250.00"); None stays None."""
    return None if value is None else str(money(value))


def cents(value) -> int:
    """An amount as integer cents (what the read models sum exactly)."""
    return int(money(value) * 100)


def from_cents(value: int) -> Decimal:
    return (Decimal(int(value)) / 100).quantize(CENT)


def _dec(value) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not a number: {value!r}")
    return value if isinstance(value, Decimal) else Decimal(str(value))


class RateHistory:
    """The rates of one subject over time: (effective_from, rate) changes, where effective_from None means "from
    the start" and rate None means "no rate from then". Setting a rate again for the same date replaces it (the
    latest decision for a day wins); the chain of changes is kept in ``changes``."""

    def __init__(self, changes=()):
        self._by_date: dict[str | None, Decimal | None] = {}
        self.changes: list[dict] = []
        for change in changes:
            if isinstance(change, dict):
                self.set(change.get("rate"), change.get("effective_from"))
            else:
                effective_from, rate = change
                self.set(rate, effective_from)

    def set(self, rate, effective_from: str | None = None) -> "RateHistory":
        value = None if rate is None else money(rate)
        self._by_date[effective_from] = value
        self.changes.append({"effective_from": effective_from, "rate": as_str(value)})
        return self

    def rate_on(self, day: str) -> Decimal | None:
        """The rate in force on ``day`` (YYYY-MM-DD): the latest change dated on or before it, else the undated
        one, else None."""
        best_date, best = None, self._by_date.get(None)
        for effective_from, rate in self._by_date.items():
            if effective_from is not None and effective_from <= day and (best_date is None or effective_from > best_date):
                best_date, best = effective_from, rate
        return best

    def timeline(self) -> list[dict]:
        """The rates in force, in date order: [{"effective_from", "rate"}] (the undated one first)."""
        dates = sorted(self._by_date, key=lambda d: (d is not None, d or ""))
        return [{"effective_from": d, "rate": as_str(self._by_date[d])} for d in dates]

    def __bool__(self):
        return bool(self._by_date)


def billing_rate(day: str, member: RateHistory | None = None, task: RateHistory | None = None,
                 project: RateHistory | None = None, client: RateHistory | None = None) -> Decimal | None:
    """The billing rate of an hour on ``day``: the first level with a rate in force that day, in the order member,
    task, project, client. None: no level has one."""
    return billing_rate_and_level(day, member=member, task=task, project=project, client=client)[0]


def billing_rate_and_level(day: str, **levels) -> tuple[Decimal | None, str | None]:
    """(rate, the level it came from) — ``billing_rate`` with where it was found ("member", ..., or None)."""
    for level in LEVELS:
        history = levels.get(level)
        if history is not None:
            rate = history.rate_on(day)
            if rate is not None:
                return rate, level
    return None, None


def price(hours, billable: bool, billing_rate, cost_rate) -> tuple[Decimal, Decimal]:
    """(billable_amount, cost_amount) of ``hours``: billable_amount is 0.00 for non-billable hours; a rate that is
    None prices at 0.00 (the caller reports it as missing where figures are shown)."""
    billable_amount = amount(hours, billing_rate) if billable and billing_rate is not None else ZERO
    cost_amount = amount(hours, cost_rate) if cost_rate is not None else ZERO
    return billable_amount, cost_amount


def margin_percent(revenue, cost) -> Decimal | None:
    """(revenue - cost) / revenue x 100 to 1 decimal, half up; None without revenue."""
    revenue, cost = _dec(revenue), _dec(cost)
    if revenue == 0:
        return None
    return ((revenue - cost) * 100 / revenue).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


LEGACY_CLIENTS = uuid.UUID("6f0c1f7e-1c2b-4a55-9a3e-5e0d1a6c7b16")  # namespace of the legacy clients' ids


def legacy_client_id(customer: str | None) -> str | None:
    """The id of the client that a free-text ``customer`` of a project created before clients stands for: derived
    from the name, case and spacing ignored, so every project of the same customer shares it. None: no customer."""
    if customer is None or not str(customer).strip():
        return None
    key = " ".join(str(customer).split()).casefold()
    return str(uuid.uuid5(LEGACY_CLIENTS, key))
