"""shared.validation: exact hours and money, strict dates and booleans, clear errors, never a crash."""
import pytest
from marshmallow import Schema

from shared.errors import ValidationError
from shared.validation import (
    Boolean,
    Hours,
    IsoDate,
    IsoDateTime,
    IsoWeek,
    Money,
    Position,
    Text,
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


# -- one date range for the whole system (issue 9, item 4) ------------------------------------------------
class Bounded(Schema):
    day = IsoDate()
    week = IsoWeek()
    at = IsoDateTime()
    min_position = Position()
    name = Text()
    note = Text(multiline=True)


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "3000-01-01", "9999-12-31"])
def test_dates_outside_the_systems_range_are_refused(day):
    with pytest.raises(ValidationError) as info:
        load(Bounded, {"day": day})
    assert info.value.errors == {"day": ["Must be from 1900-01-01 to 2999-12-31."]}


def test_the_range_ends_are_accepted_and_their_weeks_too():
    assert load(Bounded, {"day": "1900-01-01"})["day"] == "1900-01-01"
    assert load(Bounded, {"day": "2999-12-31"})["day"] == "2999-12-31"
    # every accepted date's week is an accepted week, and every day of it can be computed
    for day in ("1900-01-01", "2999-12-31"):
        week = week_of(day)
        assert load(Bounded, {"week": week})["week"] == week
        assert day in week_days(week)


@pytest.mark.parametrize("week", ["9999-W52", "0001-W01", "1899-W52", "3000-W02", "2999-W53"])
def test_weeks_outside_the_range_are_refused(week):
    with pytest.raises(ValidationError) as info:
        load(Bounded, {"week": week})
    assert "week" in info.value.errors


def test_week_of_pads_the_year():
    assert week_of("1900-01-01") == "1900-W01"
    assert week_of("0001-01-01") == "0001-W01"  # not "1-W01": a stream key of 4 digits always


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00Z"])
def test_datetimes_outside_the_range_are_refused(at):
    with pytest.raises(ValidationError):
        load(Bounded, {"at": at})


@pytest.mark.parametrize("position", ["1", 1.5, 1.0, True, -1, 2**63, [1], {"a": 1}])
def test_positions_are_integers_only(position):
    with pytest.raises(ValidationError) as info:
        load(Bounded, {"min_position": position})
    assert "min_position" in info.value.errors
    assert load(Bounded, {"min_position": 7})["min_position"] == 7
    assert load(Bounded, {})["min_position"] is None


@pytest.mark.parametrize("text, code", [("a\x00b", "U+0000"), ("evil\u202eexe.txt", "U+202E"), ("\u2066x", "U+2066"),
                                        ("esc\x1b[31m", "U+001B"), ("\ud800", "U+D800"), ("a\x7fb", "U+007F")])
def test_control_and_bidi_characters_are_refused_with_a_field_error(text, code):
    for field in ("name", "note"):
        with pytest.raises(ValidationError) as info:
            load(Bounded, {field: text})
        assert code in info.value.errors[field][0]


@pytest.mark.parametrize("text", ["Ærøskøbing", "Łódź", "東京", "👩‍💻 dev", "مرحبا", "نیم\u200cفاصله"])
def test_ordinary_unicode_is_kept_as_given(text):
    assert load(Bounded, {"name": text})["name"] == text


def test_line_breaks_only_where_a_field_has_lines():
    assert load(Bounded, {"note": "line 1\r\nline 2\tend"})["note"] == "line 1\r\nline 2\tend"
    with pytest.raises(ValidationError):
        load(Bounded, {"name": "line 1\nline 2"})


def test_a_command_id_is_text_too():
    from shared.validation import CommandSchema

    with pytest.raises(ValidationError) as info:
        load(CommandSchema, {"command_id": "abc\x00"})
    assert "command_id" in info.value.errors
