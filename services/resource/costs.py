"""What an hour of a person costs the company, from a date (issue 16): the cost rates of a resource. Pure: the
``Resource`` aggregate takes these commands and handlers (``CostRates`` is one of its bases); no I/O, no clock."""
from __future__ import annotations

from shared.errors import NotFound


class CostRates:
    """Cost rates over time: [{"effective_from", "rate", "currency"}] in the order they were set. The rate in force
    on a day is the latest one dated on or before it (``shared.money.RateHistory`` prices with them)."""

    def set_cost_rate(self, rate, currency: str, effective_from: str):
        """``rate`` (a decimal string, or None: no cost rate from then) in ``currency`` from ``effective_from``."""
        if not self.exists:
            raise NotFound(f"resource {self.id} not found", code="resource.not_found")
        wanted = {"effective_from": effective_from, "rate": rate, "currency": currency}
        if wanted in self.cost_rates:
            return  # that rate from that date already: nothing new
        self.record("CostRateSet", resource_id=self.id, **wanted)

    @property
    def cost_rates(self) -> list[dict]:
        return self.__dict__.setdefault("_cost_rates", [])

    def on_CostRateSet(self, data):
        self.cost_rates.append({"effective_from": data["effective_from"], "rate": data["rate"],
                                "currency": data["currency"]})


def timeline(changes: list[dict]) -> list[dict]:
    """The cost rates in force, by date: the latest decision for each date."""
    by_date = {}
    for change in changes:
        by_date[change["effective_from"]] = change
    return [by_date[d] for d in sorted(by_date)]
