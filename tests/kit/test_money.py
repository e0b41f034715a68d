"""shared/money.py: rounding, rate histories, where a billing rate comes from, pricing. Pure, no I/O."""
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given as hgiven
from hypothesis import strategies as st

from shared.money import (
    RateHistory,
    amount,
    as_str,
    billing_rate,
    billing_rate_and_level,
    legacy_client_id,
    margin_percent,
    money,
    price,
)


@pytest.mark.parametrize("value, expected", [
    ("0.005", "0.01"), ("0.004", "0.00"), ("1.115", "1.12"), ("2.675", "2.68"), (2.675, "2.68"),
    ("-0.005", "-0.01"), (10, "10.00"), (Decimal("99.995"), "100.00"),
])
def test_money_rounds_half_up_to_cents(value, expected):
    assert money(value) == Decimal(expected)
    assert as_str(value) == expected


def test_an_amount_is_rounded_once_after_the_exact_product():
    assert amount("0.01", "0.50") == Decimal("0.01")  # 0.005 -> 0.01 half up
    assert amount(7.25, "1333.33") == Decimal("9666.64")  # 9666.6425
    assert amount(Decimal("1.5"), "100.05") == Decimal("150.08")  # 150.075


def test_money_refuses_what_is_not_an_amount():
    for bad in (None, True):
        with pytest.raises(TypeError):
            money(bad)


def test_a_rate_history_prices_each_day_at_the_rate_in_force_then():
    rates = RateHistory().set("1000", None).set("1100", "2026-03-01").set(None, "2026-06-01")
    assert rates.rate_on("2026-02-28") == Decimal("1000.00")  # the legacy rate, from the start
    assert rates.rate_on("2026-03-01") == Decimal("1100.00")
    assert rates.rate_on("2026-05-31") == Decimal("1100.00")
    assert rates.rate_on("2026-06-01") is None  # removed from then
    assert rates.timeline() == [{"effective_from": None, "rate": "1000.00"},
                                {"effective_from": "2026-03-01", "rate": "1100.00"},
                                {"effective_from": "2026-06-01", "rate": None}]


def test_the_latest_decision_for_a_date_wins_and_the_chain_is_kept():
    rates = RateHistory([("2026-01-01", "10"), ("2026-01-01", "12")])
    assert rates.rate_on("2026-01-05") == Decimal("12.00")
    assert [c["rate"] for c in rates.changes] == ["10.00", "12.00"]


def test_without_any_rate_there_is_none():
    assert RateHistory().rate_on("2026-01-01") is None
    assert RateHistory([("2026-02-01", "5")]).rate_on("2026-01-31") is None


def test_billing_rate_member_then_task_then_project_then_client():
    member = RateHistory([("2026-04-01", "1500")])
    task = RateHistory([(None, "1200")])
    project = RateHistory([(None, "1000")])
    client = RateHistory([(None, "900")])
    assert billing_rate("2026-03-31", member=member, task=task, project=project, client=client) == Decimal("1200.00")
    assert billing_rate("2026-04-01", member=member, task=task, project=project, client=client) == Decimal("1500.00")
    assert billing_rate_and_level("2026-01-01", project=project, client=client) == (Decimal("1000.00"), "project")
    assert billing_rate_and_level("2026-01-01", client=client) == (Decimal("900.00"), "client")
    assert billing_rate_and_level("2026-01-01") == (None, None)
    removed = RateHistory([(None, "1000"), ("2026-02-01", None)])
    assert billing_rate("2026-02-02", project=removed, client=client) == Decimal("900.00")  # falls through


def test_price_non_billable_hours_have_no_billable_amount_and_missing_rates_price_at_zero():
    assert price(7.5, True, Decimal("1000"), Decimal("600")) == (Decimal("7500.00"), Decimal("4500.00"))
    assert price(7.5, False, Decimal("1000"), Decimal("600")) == (Decimal("0.00"), Decimal("4500.00"))
    assert price(2, True, None, None) == (Decimal("0.00"), Decimal("0.00"))


def test_margin_percent():
    assert margin_percent("1000.00", "600.00") == Decimal("40.0")
    assert margin_percent("3.00", "2.00") == Decimal("33.3")
    assert margin_percent("0.00", "10.00") is None


def test_legacy_client_ids_ignore_case_and_spacing():
    assert legacy_client_id("Port AS") == legacy_client_id("  port   as ")
    assert legacy_client_id("Port AS") != legacy_client_id("Port ASA")
    assert legacy_client_id(None) is None and legacy_client_id("  ") is None


@hgiven(st.decimals(min_value=0, max_value=10_000, places=2), st.decimals(min_value=0, max_value=100_000, places=2))
def test_amount_is_within_half_a_cent_of_the_exact_product(hours, rate):
    exact = hours * rate
    assert abs(amount(hours, rate) - exact) <= Decimal("0.005")
    assert amount(hours, rate).as_tuple().exponent == -2


DAYS = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)).map(str)
CHANGES = st.lists(st.tuples(st.one_of(st.none(), DAYS),
                             st.one_of(st.none(), st.decimals(min_value=0, max_value=5000, places=2).map(str))),
                   max_size=8)


@hgiven(CHANGES, DAYS)
def test_the_rate_on_a_day_is_the_last_set_for_the_latest_date_on_or_before_it(changes, day):
    """Against a plain reading of the rule: the changes dated on or before the day (undated ones counting as the
    earliest), the latest date wins, and for one date the change set last."""
    eligible = [(i, d, r) for i, (d, r) in enumerate(changes) if d is None or d <= day]
    expected = None
    if eligible:
        latest = max(eligible, key=lambda c: ((c[1] or ""), c[0]))
        expected = None if latest[2] is None else money(latest[2])
    assert RateHistory(changes).rate_on(day) == expected


@hgiven(CHANGES, CHANGES, CHANGES, CHANGES, DAYS)
def test_the_billing_rate_is_the_first_level_with_a_rate_that_day(member, task, project, client, day):
    levels = {"member": RateHistory(member), "task": RateHistory(task), "project": RateHistory(project),
              "client": RateHistory(client)}
    rates = [levels[name].rate_on(day) for name in ("member", "task", "project", "client")]
    assert billing_rate(day, **levels) == next((r for r in rates if r is not None), None)
