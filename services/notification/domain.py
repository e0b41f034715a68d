"""Pure aggregates and rules of the notification service. No nameko, AMQP, network or database here.

- ``Notification``: one per (source event, recipient, kind); carries its in-app state and its e-mail attempts.
- ``Preferences``: a person's channels and muted kinds.
- ``Reminders``: the weekly timesheet reminder rounds of one week.
- ``Webhook``: an enterprise subscription (kept in an internal, never published category: it holds the secret).
- ``Delivery``: one webhook POST of one event, with every attempt.
"""
from __future__ import annotations

import fnmatch
import re
from datetime import date, datetime, time, timedelta, timezone

from shared.aggregate import Aggregate
from shared.errors import Conflict, Forbidden, RuleViolation

KINDS = (
    "member_assigned",
    "timesheet_submitted",
    "timesheet_approved",
    "timesheet_rejected",
    "budget_threshold",
    "resource_overbooked",
    "timesheet_reminder",
    # follow-up (issue 17)
    "approval_overdue",
    "hours_missed",
    "milestone_due",
    "milestone_missed",
    "forecast_over_budget",
    "forecast_within_budget",
)
CHANNELS = ("email", "inapp")  # a person's own channels; webhooks are an admin's subscriptions to event types

PENDING, SENT, DELIVERED, DEAD, SKIPPED = "pending", "sent", "delivered", "dead", "skipped"
RETRY = "retry"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# -- retry schedule ------------------------------------------------------------------------------
def backoff_delay(schedule: list[float], attempt: int, jitter: float, rand: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based). ``rand`` in [0, 1) gives
    the jitter: the delay is spread over +/- ``jitter`` (a fraction) so that retries do not stampede."""
    base = schedule[min(attempt - 1, len(schedule) - 1)] if schedule else 0.0
    return max(0.0, base * (1 + jitter * (2 * rand - 1)))


def classify_response(status_code: int | None, error: str | None) -> str:
    """A webhook response: DELIVERED (2xx), RETRY (timeout, connection error, 5xx, 408, 429) or DEAD."""
    if status_code is None:
        return RETRY if error else DEAD
    if 200 <= status_code < 300:
        return DELIVERED
    if status_code >= 500 or status_code in (408, 429):
        return RETRY
    return DEAD


# -- subscriptions -------------------------------------------------------------------------------
# Event types are PascalCase (``TimeLogged``) and matching is case-sensitive: a pattern that starts in
# lower case could never match.
EVENT_TYPE_PATTERN = re.compile(r"\A(\*|[A-Z][A-Za-z0-9_]*\*?)\Z")  # \Z: "$" would pass a trailing newline


def subscribed(event_types: list[str], event_type: str) -> bool:
    """``*`` matches everything, ``Timesheet*`` a prefix, anything else the exact type."""
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in event_types)


# -- reminders -----------------------------------------------------------------------------------
def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def reminder_week_due(now: datetime, weekday: int, at: time) -> str | None:
    """The week whose reminder is due at ``now`` (UTC): the previous ISO week, once this week's
    ``weekday`` (1 = Monday) at ``at`` has passed; None before that moment."""
    now = now.astimezone(timezone.utc)
    monday = now.date() - timedelta(days=now.isoweekday() - 1)
    moment = datetime.combine(monday + timedelta(days=weekday - 1), at, tzinfo=timezone.utc)
    if now < moment:
        return None
    return week_of(monday - timedelta(days=7))


def week_dates(week: str) -> list[date]:
    year, number = int(week[:4]), int(week[6:])
    return [date.fromisocalendar(year, number, d) for d in range(1, 8)]


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def working_weekdays(working_days) -> set[int]:
    """ISO weekdays (1 = Monday) from ``working_days``: names ("mon", "Monday") or numbers (1-7,
    or 0-6 when 0 is present). Monday to Friday when unknown."""
    if not working_days:
        return {1, 2, 3, 4, 5}
    days = set()
    numbers = [d for d in working_days if isinstance(d, int) and not isinstance(d, bool)]
    zero_based = 0 in numbers
    for day in working_days:
        if isinstance(day, str) and day[:3].lower() in _DAY_NAMES:
            days.add(_DAY_NAMES.index(day[:3].lower()) + 1)
        elif isinstance(day, int) and not isinstance(day, bool):
            days.add(day + 1 if zero_based else day)
    return {d for d in days if 1 <= d <= 7} or {1, 2, 3, 4, 5}


def period_on(periods, day: date):
    """The capacity period in force on ``day``. ``periods``: (effective_from ISO date or None for "from the
    beginning", weekly centi-hours, working days), sorted by effective_from, the first from the beginning."""
    current = periods[0]
    for period in periods:
        if period[0] is None or date.fromisoformat(period[0]) <= day:
            current = period
    return current


def daily_capacity(periods, day: date) -> int:
    """The resource service's split: the week's capacity over its working days in whole centi-hours that add
    up exactly to the weekly figure, the remainder on the later working days (40 h over Mon/Wed/Fri is
    13.33/13.33/13.34)."""
    if not periods:
        return 0
    _, weekly, working_days = period_on(periods, day)
    working = sorted(working_weekdays(working_days))
    weekday = day.isoweekday()
    if weekday not in working:
        return 0
    i, n = working.index(weekday), len(working)
    return (i + 1) * weekly // n - i * weekly // n


def expected_centi(periods, absences, week: str) -> int:
    """Capacity minus absences for a week, in centi-hours, each day with the capacity in force that day.
    ``absences``: (starts_on, ends_on, hours_per_day centi or None for whole days) with ISO date strings;
    an absence takes at most the day's capacity."""
    expected = 0
    for day in week_dates(week):
        capacity = daily_capacity(periods, day)
        if not capacity:
            continue
        absent = 0
        for starts_on, ends_on, hours_per_day in absences:
            if date.fromisoformat(starts_on) <= day <= date.fromisoformat(ends_on):
                absent += capacity if hours_per_day is None else hours_per_day
        expected += capacity - min(absent, capacity)
    return expected


def ensure_week_over(week: str, now: datetime):
    """Reminders are for weeks that have ended (Sunday, UTC): during the week the hours are still coming in."""
    if now.astimezone(timezone.utc).date() <= week_dates(week)[-1]:
        raise RuleViolation(f"week {week} has not ended yet", code="notification.week_not_over")


OPEN_WEEK_STATUSES = (None, "open", "draft", "rejected", "reopened")


def needs_reminder(logged_centi: int, expected: int, week_status: str | None) -> bool:
    """Below capacity minus absences, and not submitted (a rejected or reopened week is open again)."""
    return week_status in OPEN_WEEK_STATUSES and logged_centi < expected


# -- aggregates ----------------------------------------------------------------------------------
class Notification(Aggregate):
    category = "notification"

    def __init__(self, id):
        super().__init__(id)
        self.recipient_id = None
        self.kind = None
        self.inapp = False
        self.read = False
        self.email_status = None  # None (no e-mail), pending, sent, dead
        self.email_attempts = 0  # all attempts ever, numbering continues across resends
        self.email_round_attempts = 0  # attempts since created or resent: the retry budget
        self.next_attempt_at = None

    def create(self, *, recipient_id, kind, title, body, source_event_id, source_event_type, facts, send_email,
               email, inapp, created_at):
        if self.exists:
            return  # one notification per (source event, recipient, kind): a repeat changes nothing
        self.record(
            "NotificationCreated", notification_id=self.id, recipient_id=recipient_id, kind=kind, title=title,
            body=body, source_event_id=source_event_id, source_event_type=source_event_type, facts=facts,
            send_email=send_email, email=email, inapp=inapp, created_at=created_at,
        )

    def mark_read(self, user_id, read_at):
        if self.recipient_id != user_id:
            raise Forbidden("this notification belongs to someone else", code="notification.not_recipient")
        if not self.read:
            self.record("NotificationRead", notification_id=self.id, user_id=user_id, read_at=read_at)

    def email_due(self, now: datetime) -> bool:
        return self.email_status == PENDING and (self.next_attempt_at is None or self.next_attempt_at <= now)

    def record_email_attempt(self, *, attempted_at: datetime, address, error, max_attempts, delay):
        """The outcome of one SMTP attempt; ``error`` None means the server accepted the message."""
        if self.email_status != PENDING:
            raise Conflict("this e-mail is not waiting to be sent", code="notification.email_not_pending")
        attempt = self.email_attempts + 1
        if error is None:
            outcome, next_at = SENT, None
        elif self.email_round_attempts + 1 >= max_attempts:
            outcome, next_at = DEAD, None
        else:
            outcome, next_at = RETRY, iso(attempted_at + timedelta(seconds=delay))
        self.record(
            "EmailAttempted", notification_id=self.id, attempt=attempt, attempted_at=iso(attempted_at),
            address=address, error=error, outcome=outcome, next_attempt_at=next_at,
        )

    def resend_email(self, requested_at: datetime):
        """A sent or dead e-mail is sent again, with a fresh retry budget (attempt numbers continue)."""
        if self.email_status is None:
            raise Conflict("this notification has no e-mail", code="notification.no_email")
        if self.email_status == PENDING:
            raise Conflict("this e-mail is still being attempted", code="notification.email_in_progress")
        self.record("EmailResent", notification_id=self.id, requested_at=iso(requested_at))

    def on_NotificationCreated(self, data):
        self.recipient_id, self.kind = data["recipient_id"], data["kind"]
        self.inapp = data["inapp"]
        self.email_status = PENDING if data["send_email"] else None

    def on_NotificationRead(self, data):
        self.read = True

    def on_EmailAttempted(self, data):
        self.email_attempts = data["attempt"]
        self.email_round_attempts += 1
        self.email_status = PENDING if data["outcome"] == RETRY else data["outcome"]
        self.next_attempt_at = parse_time(data["next_attempt_at"])


    def on_EmailResent(self, data):
        self.email_status = PENDING
        self.email_round_attempts = 0
        self.next_attempt_at = None


class Preferences(Aggregate):
    category = "notification"

    def __init__(self, user_id):
        super().__init__(f"prefs_{user_id}")
        self.user_id = str(user_id)
        self.email, self.inapp, self.muted_kinds, self.kinds = True, True, [], {}

    def set(self, email: bool, inapp: bool, muted_kinds, kinds: dict | None = None):
        """``kinds``: per-kind overrides of the channels, ``{kind: {"email": bool, "inapp": bool}}`` (either
        channel may be left out: it follows ``email``/``inapp``). The whole set replaces the one before."""
        muted = sorted(set(muted_kinds))
        kinds = normal_kinds(kinds or {})
        unknown = [k for k in [*muted, *kinds] if k not in KINDS]
        if unknown:
            raise RuleViolation(f"unknown notification kinds {unknown}", code="preferences.unknown_kind")
        if self.exists and (email, inapp, muted, kinds) == (self.email, self.inapp, self.muted_kinds, self.kinds):
            return
        self.record("PreferencesSet", user_id=self.user_id, email=email, inapp=inapp, muted_kinds=muted,
                    kinds=kinds)

    def on_PreferencesSet(self, data):
        self.email, self.inapp, self.muted_kinds = data["email"], data["inapp"], list(data["muted_kinds"])
        self.kinds = normal_kinds(data.get("kinds") or {})


def normal_kinds(kinds: dict) -> dict:
    """Per-kind overrides sorted by kind, each with only the channels it names; an empty override is dropped."""
    out = {}
    for kind in sorted(kinds):
        channels = {c: bool(kinds[kind][c]) for c in CHANNELS if kinds[kind].get(c) is not None}
        if channels:
            out[kind] = channels
    return out


def channels_for(prefs: dict, kind: str) -> dict:
    """The channels a notification of ``kind`` goes out on: ``{"email": bool, "inapp": bool}``. A muted kind
    has none; else a per-kind override decides each channel it names, and the person's channels the rest."""
    if kind in prefs.get("muted_kinds", ()):
        return {c: False for c in CHANNELS}
    override = (prefs.get("kinds") or {}).get(kind) or {}
    return {c: bool(override[c]) if c in override else bool(prefs[c]) for c in CHANNELS}


class Reminders(Aggregate):
    """The reminder rounds of one week (``2026-W48``): the timer sends one round, the RPC may add more."""

    category = "notification"

    def __init__(self, week):
        super().__init__(f"reminders_{week.replace('-', '')}")
        self.week = week
        self.rounds = 0

    def send(self, resources, trigger, sent_at):
        """``resources``: [{resource_id, logged_hours, expected_hours}] of those to remind."""
        if trigger == "timer" and self.rounds:
            return  # the timer reminds once per week
        self.record("RemindersSent", week=self.week, round=self.rounds + 1, trigger=trigger,
                    resources=sorted(resources, key=lambda r: r["resource_id"]), sent_at=sent_at)

    def on_RemindersSent(self, data):
        self.rounds = data["round"]


class Webhook(Aggregate):
    category = "webhook"

    def __init__(self, id):
        super().__init__(id)
        self.removed = False

    def register(self, url, event_types, secret, description, registered_at):
        if self.exists:
            return
        self.record("WebhookRegistered", webhook_id=self.id, url=url, event_types=list(event_types),
                    secret=secret, description=description, registered_at=registered_at)

    def remove(self, removed_at):
        if self.removed:
            raise Conflict("this webhook was already removed", code="webhook.already_removed")
        self.record("WebhookRemoved", webhook_id=self.id, removed_at=removed_at)

    def on_WebhookRegistered(self, data):
        self.url, self.event_types = data["url"], data["event_types"]

    def on_WebhookRemoved(self, data):
        self.removed = True


class Delivery(Aggregate):
    """One event POSTed to one webhook. The id is the ``X-Chronicle-Delivery`` header, the same on
    every attempt, so that a receiver can deduplicate."""

    category = "delivery"

    def __init__(self, id):
        super().__init__(id)
        self.status = None
        self.attempts = 0  # all attempts ever, numbering continues across redeliveries
        self.round_attempts = 0  # attempts since scheduled or redelivered: the retry budget
        self.next_attempt_at = None

    def schedule(self, *, webhook_id, event_id, event_type, stream, stream_version, scheduled_at):
        """``stream``/``stream_version``: where the event is in our own store (for the body)."""
        if self.exists:
            return
        self.record("DeliveryScheduled", delivery_id=self.id, webhook_id=webhook_id, event_id=event_id,
                    source_event_type=event_type, stream=stream, stream_version=stream_version, scheduled_at=scheduled_at)

    def due(self, now: datetime) -> bool:
        return self.status == PENDING and (self.next_attempt_at is None or self.next_attempt_at <= now)

    def record_attempt(self, *, attempted_at: datetime, status_code, error, max_attempts, delay, permanent=False):
        """``permanent``: an error that no retry can fix (e.g. a refused target)."""
        if self.status != PENDING:
            raise Conflict("this delivery is not waiting to be sent", code="delivery.not_pending")
        outcome = DEAD if permanent else classify_response(status_code, error)
        next_at = None
        if outcome == RETRY:
            if self.round_attempts + 1 >= max_attempts:
                outcome = DEAD
            else:
                next_at = iso(attempted_at + timedelta(seconds=delay))
        self.record(
            "DeliveryAttempted", delivery_id=self.id, attempt=self.attempts + 1, attempted_at=iso(attempted_at),
            status_code=status_code, error=error, outcome=outcome, next_attempt_at=next_at,
        )

    def abandon(self, reason, at: datetime):
        if self.status == PENDING:
            self.record("DeliveryAbandoned", delivery_id=self.id, reason=reason, abandoned_at=iso(at))

    def redeliver(self, requested_at: datetime, webhook_removed: bool = False):
        if webhook_removed:
            raise Conflict("the webhook of this delivery was removed", code="webhook.removed")
        if self.status == PENDING:
            raise Conflict("this delivery is still being attempted", code="delivery.in_progress")
        self.record("DeliveryRedelivered", delivery_id=self.id, requested_at=iso(requested_at))

    def on_DeliveryScheduled(self, data):
        self.webhook_id, self.event_id = data["webhook_id"], data["event_id"]
        self.event_type = data["source_event_type"]
        self.source_stream, self.source_version = data["stream"], data["stream_version"]
        self.status = PENDING

    def on_DeliveryAttempted(self, data):
        self.attempts = data["attempt"]
        self.round_attempts += 1
        self.status = PENDING if data["outcome"] == RETRY else data["outcome"]
        self.next_attempt_at = parse_time(data["next_attempt_at"])

    def on_DeliveryAbandoned(self, data):
        self.status = DEAD
        self.next_attempt_at = None

    def on_DeliveryRedelivered(self, data):
        self.status = PENDING
        self.round_attempts = 0
        self.next_attempt_at = None
