"""shared.validation: exact hours and money, strict dates and booleans, clear errors, never a crash."""
import pytest
from marshmallow import Schema

from shared.errors import ValidationError
from shared.validation import (
    Boolean,
    Hours,
    IsoDate,
    IsoWeek,
    Money,
    hours,
    load,
    to_centi,
    week_days,
    week_of,
)


class Args(Schema):
    h = Hours(maximum=24)
    budget = Hours()
    amount = Money()
    day = IsoDate()
    week = IsoWeek()
    flag = Boolean()


@pytest.mark.parametrize("value, centi", [(7.25, 725), (24, 2400), (0.01, 1), ("x", None), (7.500, 750)])
def test_hours_are_exact_centi_hours(value, centi):
    if centi is None:
        with pytest.raises(ValidationError):
            load(Args, {"h": value})
    else:
        assert load(Args, {"h": value})["h"] == centi
        assert hours(centi) == value


@pytest.mark.parametrize("value, message", [
    (7.255, "At most 2 decimals."), (0, "Must be greater than 0."), (-1, "Must be greater than 0."),
    (24.01, "Must be at most 24."), (1e30, "Must be at most 24."), (True, "Must be a number."),
    ("8", "Must be a number."), (float("nan"), "Must be a finite number."), (float("inf"), "Must be a finite number."),
])
def test_bad_hours_give_field_errors(value, message):
    with pytest.raises(ValidationError) as info:
        load(Args, {"h": value})
    assert info.value.errors == {"h": [message]}


def test_huge_values_are_refused_not_crashed():
    for field, value in (("budget", 1e20), ("budget", 1e30), ("amount", "1e30"), ("amount", 1e30)):
        with pytest.raises(ValidationError) as info:
            load(Args, {field: value})
        assert field in info.value.errors
    assert load(Args, {"budget": 10_000_000})["budget"] == 1_000_000_000
    assert to_centi(9_999_999.99, field="x") == 999_999_999


@pytest.mark.parametrize("value, loaded", [("1250", "1250.00"), ("0.5", "0.50"), (12.5, "12.50"), ("7.5", "7.50")])
def test_money_is_a_normalised_decimal_string(value, loaded):
    assert load(Args, {"amount": value})["amount"] == loaded


@pytest.mark.parametrize("value", ["12.345", "-1", "abc", "NaN", True, None, [1]])
def test_bad_money(value):
    with pytest.raises(ValidationError):
        load(Args, {"amount": value})


@pytest.mark.parametrize("value", ["2026-02-30", "2026-W48-1", "20261130", "2026-11-30T10:00", "30.11.2026", 20261130])
def test_dates_are_strict_yyyy_mm_dd(value):
    with pytest.raises(ValidationError) as info:
        load(Args, {"day": value})
    assert info.value.errors == {"day": ["Must be a date YYYY-MM-DD."]}


def test_weeks_and_days():
    assert load(Args, {"week": "2026-W53"})["week"] == "2026-W53"
    with pytest.raises(ValidationError):
        load(Args, {"week": "2025-W53"})  # 2025 has 52 ISO weeks
    assert week_of("2027-01-01") == "2026-W53"
    assert week_days("2026-W48")[0] == "2026-11-23" and week_days("2026-W48")[-1] == "2026-11-29"


@pytest.mark.parametrize("value", ["yes", 1, 0, "true", None])
def test_booleans_are_strict(value):
    with pytest.raises(ValidationError):
        load(Args, {"flag": value})
    assert load(Args, {"flag": False})["flag"] is False


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError) as info:
        load(Args, {"nope": 1})
    assert info.value.errors == {"nope": ["Unknown field."]}


@pytest.mark.parametrize("args, field", [({"limit": True}, "limit"), ({"position": 1.7}, "position"),
                                         ({"limit": 2.9}, "limit"), ({"position": -1}, "position"),
                                         ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"position": "3"}, "position")])
def test_the_feed_arguments_are_strict(args, field):
    from shared.validation import FeedSchema

    with pytest.raises(ValidationError) as info:
        load(FeedSchema, args)
    assert field in info.value.errors


@pytest.mark.parametrize("command_id", ["", "k" * 201, 12])
def test_command_ids_are_short_non_empty_strings(command_id):
    from shared.validation import CommandSchema

    with pytest.raises(ValidationError) as info:
        load(CommandSchema, {"command_id": command_id})
    assert "command_id" in info.value.errors
    assert load(CommandSchema, {"command_id": "k" * 200})["command_id"] == "k" * 200
    assert load(CommandSchema, {})["command_id"] is None


def test_a_feed_position_beyond_any_store_is_refused():
    from shared.validation import FeedSchema

    with pytest.raises(ValidationError):
        load(FeedSchema, {"position": 10**30})
    assert load(FeedSchema, {"position": 2**63 - 1})["position"] == 2**63 - 1


@pytest.mark.parametrize("week", ["2026-W48\n", "٢٠٢٦-W48", "２０２６-W48", " 2026-W48", "2026-w48", "2026-W7"])
def test_weeks_are_exactly_yyyy_w_ww_in_ascii(week):
    with pytest.raises(ValidationError):
        load(Args, {"week": week})


@pytest.mark.parametrize("day", ["2026-11-30\n", "٢٠٢٦-١١-٣٠", "2026-11-30 "])
def test_dates_are_ascii_without_trailing_characters(day):
    with pytest.raises(ValidationError):
        load(Args, {"day": day})


@pytest.mark.parametrize("value", ["-0", "-0.00", "1E+2", " 7.5 ", "7.", ".5", "+5", "1,5"])
def test_money_strings_are_plain_decimals(value):
    with pytest.raises(ValidationError):
        load(Args, {"amount": value})


def test_negative_zero_as_a_number_is_zero():
    assert load(Args, {"amount": -0.0})["amount"] == "0.00"
