"""The one validation layer every service uses, on marshmallow: exact hours, money, bounded ISO dates and
weeks, positions and text.

Hours are JSON numbers with at most 2 decimals. Inside Chronicle they are integers of
hundredths of an hour (``centi-hours``), so sums are exact; ``hours()`` turns them back.

Dates are accepted from ``MIN_DATE`` to ``MAX_DATE`` (1900-01-01 to 2999-12-31), and weeks are the weeks of
those dates (1900-W01 to 3000-W01, whose Monday is 2999-12-30): every date and every day of every week the
system stores can be computed on (the week of a date, its days, a day after) far from the limits of
Python's ``date``.
Text refuses control characters (NUL and the rest of Unicode's Cc, except tab and line breaks where a field
allows several lines), lone surrogates and the bidirectional overrides and isolates (U+202A..U+202E,
U+2066..U+2069, U+200E, U+200F, U+061C) that make a name display as something else; other Unicode
("Ærøskøbing", emoji with joiners) is kept as given.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError

from .errors import ValidationError

# The dates the system accepts, in every service (documented in docs/kit.md).
MIN_DATE = date(1900, 1, 1)  # a Monday: 1900-W01 is the first week accepted
MAX_DATE = date(2999, 12, 31)  # in 3000-W01 (Monday 2999-12-30), the last week accepted
DATE_RANGE_MESSAGE = f"Must be from {MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}."

# ASCII digits only, and \Z (not $, which also matches before a trailing newline).
WEEK_RE = re.compile(r"\A([0-9]{4})-W([0-9]{2})\Z")
MONEY_RE = re.compile(r"\A[0-9]+(\.[0-9]{1,2})?\Z")


_INSTANCES: dict[type, Schema] = {}  # a schema class's one instance: making one deep-copies every field


def load(schema: Schema | type, data: dict, partial=False) -> dict:
    """Validate ``data`` (the RPC's keyword arguments) or raise our ValidationError."""
    if isinstance(schema, type):
        instance = _INSTANCES.get(schema)
        if instance is None:
            instance = _INSTANCES[schema] = schema()
        schema = instance
    try:
        return schema.load(data, partial=partial)
    except MarshmallowError as exc:
        raise ValidationError(errors=_flatten(exc.messages)) from None


def _flatten(messages):
    if isinstance(messages, dict):
        return {str(k): _flatten(v) for k, v in messages.items()}
    return messages


# Bounds that keep every accepted value exact and storable in a 64-bit SQLite INTEGER (as centi-units).
MAX_HOURS = 10_000_000
MAX_AMOUNT = Decimal("1000000000000")  # a trillion, in any currency


def _decimal(value):
    """A finite Decimal with at most 2 decimals, or a message saying what is wrong with ``value``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None, "Must be a number."
    try:
        dec = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None, "Must be a number."
    if not dec.is_finite():
        return None, "Must be a finite number."
    # normalize() drops trailing zeros (7.500 -> 7.5) and, unlike quantize(), cannot overflow
    if dec.as_tuple().exponent < -2 and dec.normalize().as_tuple().exponent < -2:
        return None, "At most 2 decimals."
    return dec, None


def to_centi(value, *, field="hours", maximum=None, allow_zero=False) -> int:
    """7.25 -> 725. Refuses booleans, strings, non-finite numbers, more than 2 decimals and absurd sizes."""
    if isinstance(value, str):
        raise ValidationError(errors={field: ["Must be a number."]})
    dec, problem = _decimal(value)
    if problem:
        raise ValidationError(errors={field: [problem]})
    limit = Decimal(str(MAX_HOURS if maximum is None else maximum))
    if dec > limit:
        raise ValidationError(errors={field: [f"Must be at most {maximum if maximum is not None else MAX_HOURS}."]})
    if dec < 0 or (dec == 0 and not allow_zero):
        raise ValidationError(errors={field: ["Must be greater than 0." if not allow_zero else "Must not be negative."]})
    return int(dec * 100)


def hours(centi: int | None):
    """725 -> 7.25 (a JSON number)."""
    if centi is None:
        return None
    value = Decimal(int(centi)) / 100
    return int(value) if value == value.to_integral_value() else float(value)


class Hours(fields.Field):
    """A JSON number of hours, > 0 (or >= 0 with allow_zero), at most 2 decimals. Loads to centi-hours."""

    def __init__(self, maximum=None, allow_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.maximum, self.allow_zero = maximum, allow_zero

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return to_centi(value, field=attr or "hours", maximum=self.maximum, allow_zero=self.allow_zero)
        except ValidationError as exc:
            raise MarshmallowError(next(iter(exc.errors.values()))) from None

    def _serialize(self, value, attr, obj, **kwargs):
        return hours(value)


class Money(fields.Field):
    """A decimal string (or number) >= 0 with at most 2 decimals. Loads to a normalised string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not MONEY_RE.match(value):
            # plain digits with up to 2 decimals: no sign, exponent, spaces or other scripts' digits
            if value.strip().startswith("-"):
                raise MarshmallowError("Must not be negative.")
            raise MarshmallowError("Must be a decimal amount like 1250.00.")
        dec, problem = _decimal(value)
        if problem:
            raise MarshmallowError("Must be a decimal amount." if problem == "Must be a number." else problem)
        if dec < 0:
            raise MarshmallowError("Must not be negative.")
        dec = abs(dec)  # -0.0 is 0.00
        if dec > MAX_AMOUNT:
            raise MarshmallowError(f"Must be at most {MAX_AMOUNT}.")
        return str(dec.quantize(Decimal("0.01")))


DATE_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


class IsoDate(fields.Field):
    """``YYYY-MM-DD`` exactly (no week dates, no times). Loads to the same string once it is a real date."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not DATE_RE.match(value):
            raise MarshmallowError("Must be a date YYYY-MM-DD.")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise MarshmallowError("Must be a date YYYY-MM-DD.") from None
        if not MIN_DATE <= day <= MAX_DATE:
            raise MarshmallowError(DATE_RANGE_MESSAGE)
        return day.isoformat()


class Boolean(fields.Field):
    """A strict JSON boolean: ``true`` or ``false`` only (not "yes", 1 or "true")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise MarshmallowError("Not a valid boolean.")
        return value


class IsoWeek(fields.Field):
    """``2026-W48``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not WEEK_RE.match(value):
            raise MarshmallowError("Must be an ISO week like 2026-W48.")
        year, week = map(int, WEEK_RE.match(value).groups())
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise MarshmallowError("No such ISO week.") from None
        if not MIN_DATE <= monday <= MAX_DATE:  # the weeks of the accepted dates
            raise MarshmallowError(f"Must be a week from {week_of(MIN_DATE)} to {week_of(MAX_DATE)}.")
        return value


class IsoDateTime(fields.Field):
    """An ISO 8601 datetime; naive values are taken as UTC. Loads to an aware datetime."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise MarshmallowError("Must be an ISO datetime.")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise MarshmallowError("Must be an ISO datetime.") from None
        if not MIN_DATE <= parsed.date() <= MAX_DATE:
            raise MarshmallowError(DATE_RANGE_MESSAGE)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class Id(fields.UUID):
    """A UUID string; loads to its canonical string form."""

    def _deserialize(self, value, attr, data, **kwargs):
        return str(super()._deserialize(value, attr, data, **kwargs))


def week_of(day: str | date) -> str:
    d = date.fromisoformat(day) if isinstance(day, str) else day
    year, week, _ = d.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_days(week: str) -> list[str]:
    year, number = map(int, WEEK_RE.match(week).groups())
    return [date.fromisocalendar(year, number, d).isoformat() for d in range(1, 8)]


# Bidirectional formatting characters: they reorder how the text around them displays ("U+202E" makes
# "exe.txt" read "txt.exe"). Other format characters (the zero-width joiners of emoji and Persian) are kept.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_BREAKS = frozenset("\t\n\r")


def text_problem(value: str, multiline: bool = False) -> str | None:
    """What is wrong with ``value`` as stored text, or None: control characters (NUL, ESC, ...; tab and line
    breaks only where ``multiline``), lone surrogates and bidirectional overrides are refused."""
    for char in value:
        if char in BIDI_CONTROLS:
            return f"Must not contain the bidirectional control character U+{ord(char):04X}."
        category = unicodedata.category(char)
        if category == "Cc" and not (multiline and char in LINE_BREAKS):
            return f"Must not contain the control character U+{ord(char):04X}."
        if category == "Cs":
            return f"Must not contain the lone surrogate U+{ord(char):04X}."
    return None


class Text(fields.String):
    """A string that is safe to store and show: see ``text_problem``. ``multiline`` allows tab and line breaks
    (descriptions, reasons); names and codes are one line."""

    def __init__(self, multiline=False, **kwargs):
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(value, self.multiline)
        if problem:
            raise MarshmallowError(problem)
        return value


class CommandSchema(Schema):
    """Base for RPC argument schemas: every command takes an optional ``command_id``."""

    command_id = Text(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


class StrictInteger(fields.Integer):
    """An integer that is really one: not a bool, not 1.7, not "12"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise MarshmallowError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


MAX_POSITION = 2**63 - 1


class Position(StrictInteger):
    """A store position (``min_position``): an integer from 0, never "1", 1.5 or true."""

    def __init__(self, **kwargs):
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(validate=validate.Range(min=0, max=MAX_POSITION), **kwargs)


class Seen(fields.Dict):
    """``seen``: the positions a caller has seen, by service (``{"project": 1234}``, each the ``position`` a command
    of that service returned): a causal-consistency token. A service that must see another's changes pulls that
    service's feed only while it has not recorded that far (``ChronicleHandle.ensure``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("load_default", None)
        kwargs.setdefault("allow_none", True)
        super().__init__(keys=fields.String(validate=validate.Regexp(r"[a-z][a-z0-9_-]{0,63}\Z")),
                         values=StrictInteger(validate=validate.Range(min=0, max=MAX_POSITION)),
                         validate=validate.Length(max=16), **kwargs)


class StatusSchema(Schema):
    """``status()``, which every service serves from the kit: no arguments (anything passed is unknown)."""


class FeedSchema(Schema):
    """``events_since(position, limit, types)``, the feed every service serves; ``types`` filters by event type
    (the kit checks that the service has them)."""

    position = StrictInteger(load_default=0, validate=validate.Range(min=0, max=MAX_POSITION))
    limit = StrictInteger(load_default=100, validate=validate.Range(min=1, max=1000))
    types = fields.List(Text(validate=validate.Length(min=1, max=200)), load_default=None,
                        validate=validate.Length(min=1, max=100))


class FeedStreamSchema(Schema):
    """``events_since(stream, from_version, limit)``: one of the service's own streams, from a version."""

    stream = fields.String(required=True, validate=validate.Length(min=3, max=300))
    from_version = StrictInteger(load_default=0, validate=validate.Range(min=0, max=2**63 - 1))
    limit = StrictInteger(load_default=100, validate=validate.Range(min=1, max=1000))
