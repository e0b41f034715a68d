"""Domain rules, given/when/then on events: no I/O."""
from datetime import date, datetime, time, timedelta, timezone

import pytest

from services.notification.courier import original_envelope, sign
from services.notification.domain import (
    DEAD,
    DELIVERED,
    RETRY,
    Delivery,
    Notification,
    Preferences,
    Reminders,
    Webhook,
    backoff_delay,
    classify_response,
    daily_capacity,
    ensure_week_over,
    expected_centi,
    needs_reminder,
    reminder_week_due,
    subscribed,
    working_weekdays,
)
from services.notification.reactors import check_link_pattern, render_link
from shared.errors import Conflict, Forbidden, RuleViolation
from shared.eventstore.base import RecordedEvent
from shared.testing import given, recorded, recorded_types

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
CREATED = {"notification_id": "n1", "recipient_id": "u1", "kind": "member_assigned", "title": "t", "body": "b",
           "source_event_id": "e1", "source_event_type": "MemberAssigned", "facts": {}, "send_email": True,
           "email": "a@example.com", "inapp": True, "created_at": T0.isoformat()}


def create(n, **overrides):
    args = {k: v for k, v in CREATED.items() if k != "notification_id"}
    args.update(overrides)
    n.create(**args)


def test_a_notification_is_created_once():
    n = Notification("n1")
    create(n)
    assert recorded_types(n) == ["NotificationCreated"]
    again = given(Notification, "n1", ("NotificationCreated", CREATED))
    create(again)
    assert recorded(again) == []


def test_only_the_recipient_marks_read_and_only_once():
    n = given(Notification, "n1", ("NotificationCreated", CREATED))
    with pytest.raises(Forbidden) as exc:
        n.mark_read("someone-else", T0.isoformat())
    assert exc.value.code == "notification.not_recipient"
    n.mark_read("u1", T0.isoformat())
    assert recorded_types(n) == ["NotificationRead"]
    read = given(Notification, "n1", ("NotificationCreated", CREATED), ("NotificationRead", {"read": 1}))
    read.mark_read("u1", T0.isoformat())
    assert recorded(read) == []


def test_email_attempts_retry_with_backoff_then_die():
    n = given(Notification, "n1", ("NotificationCreated", CREATED))
    assert n.email_due(T0)
    n.record_email_attempt(attempted_at=T0, address="a@example.com", error="refused", max_attempts=2, delay=30)
    (_, first), = recorded(n)
    assert first["outcome"] == RETRY and first["attempt"] == 1
    assert first["next_attempt_at"] == (T0 + timedelta(seconds=30)).isoformat()
    n.pending = []
    assert not n.email_due(T0) and n.email_due(T0 + timedelta(seconds=31))
    n.record_email_attempt(attempted_at=T0, address="a@example.com", error="refused", max_attempts=2, delay=30)
    assert recorded(n)[0][1]["outcome"] == DEAD
    with pytest.raises(Conflict):
        n.record_email_attempt(attempted_at=T0, address="a", error=None, max_attempts=2, delay=1)


def test_a_dead_email_is_resent_with_a_fresh_budget_and_attempt_numbers_go_on():
    dead_attempt = {"attempt": 2, "outcome": DEAD, "next_attempt_at": None}
    # given an e-mail that died after two attempts
    dead = given(Notification, "n1", ("NotificationCreated", CREATED), ("EmailAttempted", {**dead_attempt,
                 "attempt": 1, "outcome": RETRY}), ("EmailAttempted", dead_attempt))
    assert not dead.email_due(T0 + timedelta(days=1))
    # when it is resent, then it is due again
    dead.resend_email(T0)
    assert recorded(dead) == [("EmailResent", {"notification_id": "n1", "requested_at": T0.isoformat()})]
    again = given(Notification, "n1", ("NotificationCreated", CREATED), ("EmailAttempted", {**dead_attempt,
                  "attempt": 1, "outcome": RETRY}), ("EmailAttempted", dead_attempt), ("EmailResent", {}))
    assert again.email_due(T0)
    # and its next failure is attempt 3, retried: the budget (2) starts again
    again.record_email_attempt(attempted_at=T0, address="a@example.com", error="refused", max_attempts=2, delay=1)
    assert (recorded(again)[0][1]["attempt"], recorded(again)[0][1]["outcome"]) == (3, RETRY)


def test_only_a_sent_or_dead_email_is_resent():
    pending = given(Notification, "n1", ("NotificationCreated", CREATED))
    with pytest.raises(Conflict) as exc:
        pending.resend_email(T0)
    assert exc.value.code == "notification.email_in_progress" and recorded(pending) == []
    no_email = given(Notification, "n1", ("NotificationCreated", {**CREATED, "send_email": False}))
    with pytest.raises(Conflict) as exc:
        no_email.resend_email(T0)
    assert exc.value.code == "notification.no_email" and recorded(no_email) == []


def test_no_email_wanted_means_nothing_due():
    n = given(Notification, "n1", ("NotificationCreated", {**CREATED, "send_email": False}))
    assert not n.email_due(T0)


def test_preferences_refuse_unknown_kinds_and_skip_no_changes():
    p = Preferences("u1")
    with pytest.raises(RuleViolation):
        p.set(True, True, ["nope"])
    p.set(False, True, ["timesheet_reminder"])
    assert recorded(p) == [("PreferencesSet", {"user_id": "u1", "email": False, "inapp": True,
                                               "muted_kinds": ["timesheet_reminder"], "kinds": {}})]
    same = given(Preferences, "u1", *recorded(p))
    same.set(False, True, ["timesheet_reminder"])
    assert recorded(same) == []


def test_the_timer_reminds_once_per_week_but_the_rpc_may_repeat():
    r = given(Reminders, "2026-W48", ("RemindersSent", {"round": 1}))
    r.send([], "timer", T0.isoformat())
    assert recorded(r) == []
    r.send([{"resource_id": "b"}, {"resource_id": "a"}], "rpc", T0.isoformat())
    (_, data), = recorded(r)
    assert data["round"] == 2 and [x["resource_id"] for x in data["resources"]] == ["a", "b"]


def test_a_webhook_is_removed_once():
    w = given(Webhook, "w1", ("WebhookRegistered", {"url": "http://x", "event_types": ["*"]}))
    w.remove(T0.isoformat())
    assert recorded_types(w) == ["WebhookRemoved"]
    removed = given(Webhook, "w1", ("WebhookRegistered", {"url": "http://x", "event_types": ["*"]}),
                    ("WebhookRemoved", {}))
    with pytest.raises(Conflict):
        removed.remove(T0.isoformat())


SCHEDULED = ("DeliveryScheduled", {"webhook_id": "w1", "event_id": "e1", "source_event_type": "TimeLogged",
                                   "stream": "s", "stream_version": 0})


@pytest.mark.parametrize("status, error, outcome", [
    (200, None, DELIVERED), (204, None, DELIVERED), (500, "HTTP 500", RETRY), (503, "x", RETRY),
    (408, "x", RETRY), (429, "x", RETRY), (400, "x", DEAD), (404, "x", DEAD), (301, "x", DEAD),
    (None, "timeout", RETRY), (None, "connection error", RETRY),
])
def test_which_responses_are_retried(status, error, outcome):
    assert classify_response(status, error) == outcome


def test_a_delivery_retries_until_its_budget_then_is_dead_until_redelivered():
    d = given(Delivery, "d1", SCHEDULED)
    d.record_attempt(attempted_at=T0, status_code=500, error="HTTP 500", max_attempts=2, delay=5)
    (_, first), = recorded(d)
    assert (first["attempt"], first["outcome"]) == (1, RETRY)
    d = given(Delivery, "d1", SCHEDULED, ("DeliveryAttempted", first))
    assert not d.due(T0) and d.due(T0 + timedelta(seconds=5))
    with pytest.raises(Conflict):
        d.redeliver(T0)
    d.record_attempt(attempted_at=T0, status_code=None, error="timeout", max_attempts=2, delay=5)
    (_, second), = recorded(d)
    assert (second["attempt"], second["outcome"], second["next_attempt_at"]) == (2, DEAD, None)
    dead = given(Delivery, "d1", SCHEDULED, ("DeliveryAttempted", first), ("DeliveryAttempted", second))
    assert not dead.due(T0 + timedelta(days=1))
    dead.redeliver(T0)
    assert recorded_types(dead) == ["DeliveryRedelivered"]
    again = given(Delivery, "d1", SCHEDULED, ("DeliveryAttempted", first), ("DeliveryAttempted", second),
                  ("DeliveryRedelivered", {}))
    assert again.due(T0)
    again.record_attempt(attempted_at=T0, status_code=500, error="x", max_attempts=2, delay=5)
    assert recorded(again)[0][1]["attempt"] == 3 and recorded(again)[0][1]["outcome"] == RETRY  # a fresh budget


def test_a_delivery_of_a_removed_webhook_is_not_redelivered():
    # given a delivery abandoned because its webhook was removed
    d = given(Delivery, "d1", SCHEDULED, ("DeliveryAbandoned", {"reason": "webhook removed"}))
    # when it is redelivered, then it is refused and nothing is recorded
    with pytest.raises(Conflict) as exc:
        d.redeliver(T0, webhook_removed=True)
    assert exc.value.code == "webhook.removed" and recorded(d) == []
    # a delivered one whose webhook was removed later: the same
    done = given(Delivery, "d1", SCHEDULED, ("DeliveryAttempted", {"attempt": 1, "outcome": DELIVERED,
                                                                  "next_attempt_at": None}))
    with pytest.raises(Conflict) as exc:
        done.redeliver(T0, webhook_removed=True)
    assert exc.value.code == "webhook.removed" and recorded(done) == []


def test_a_4xx_or_a_refused_target_fails_at_once():
    d = given(Delivery, "d1", SCHEDULED)
    d.record_attempt(attempted_at=T0, status_code=400, error="HTTP 400", max_attempts=8, delay=5)
    assert recorded(d)[0][1]["outcome"] == DEAD
    d = given(Delivery, "d1", SCHEDULED)
    d.record_attempt(attempted_at=T0, status_code=None, error="refused", max_attempts=8, delay=5, permanent=True)
    assert recorded(d)[0][1]["outcome"] == DEAD


def test_backoff_grows_and_jitters_within_bounds():
    schedule = [10, 60, 300]
    assert backoff_delay(schedule, 1, 0.2, 0.5) == 10
    assert backoff_delay(schedule, 2, 0.2, 0.0) == pytest.approx(48)
    assert backoff_delay(schedule, 3, 0.2, 0.999) == pytest.approx(360, rel=0.01)
    assert backoff_delay(schedule, 9, 0.0, 0.3) == 300  # the last step repeats


def test_subscriptions_match_star_prefix_and_exact():
    assert subscribed(["*"], "TimeLogged")
    assert subscribed(["Timesheet*"], "TimesheetSubmitted")
    assert not subscribed(["Timesheet*"], "TimeLogged")
    assert subscribed(["TimeLogged"], "TimeLogged") and not subscribed(["TimeLogged"], "TimeLoggedX")


# -- the reminder timer, with a fixed clock ----------------------------------------------------------
@pytest.mark.parametrize("now, week", [
    (datetime(2026, 11, 30, 8, 59, tzinfo=timezone.utc), None),  # Monday of W49, before 09:00
    (datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc), "2026-W48"),
    (datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc), "2026-W48"),  # later that week: still W48
    (datetime(2026, 12, 6, 23, 59, tzinfo=timezone.utc), "2026-W48"),
    (datetime(2026, 12, 7, 9, 1, tzinfo=timezone.utc), "2026-W49"),
    (datetime(2027, 1, 4, 10, 0, tzinfo=timezone.utc), "2026-W53"),  # across the year
])
def test_reminder_week_due_on_monday_at_nine(now, week):
    assert reminder_week_due(now, 1, time(9, 0)) == week


def test_reminder_week_due_on_another_weekday_and_timezone():
    tuesday = time(7, 30)
    assert reminder_week_due(datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc), 2, tuesday) is None
    plus2 = timezone(timedelta(hours=2))
    assert reminder_week_due(datetime(2026, 12, 1, 9, 31, tzinfo=plus2), 2, tuesday) == "2026-W48"


def always(weekly, working_days):
    """One capacity period, in force from the beginning."""
    return [(None, weekly, working_days)]


def test_expected_hours_are_capacity_minus_absences():
    assert expected_centi(always(4000, ["mon", "tue", "wed", "thu", "fri"]), [], "2026-W48") == 4000
    whole_day = ("2026-11-24", "2026-11-24", None)  # the Tuesday
    assert expected_centi(always(4000, None), [whole_day], "2026-W48") == 3200
    half_days = ("2026-11-20", "2026-11-25", 400)  # Mon-Wed of W48 at 4 h
    assert expected_centi(always(4000, [1, 2, 3, 4, 5]), [half_days], "2026-W48") == 2800
    assert expected_centi(always(4000, None), [("2026-11-01", "2026-12-31", None)], "2026-W48") == 0
    assert working_weekdays([0, 1, 2]) == {1, 2, 3} and working_weekdays(["Monday", "sat"]) == {1, 6}


def test_expected_hours_split_the_capacity_exactly_as_the_resource_service_does():
    # given 40 h over Mon/Wed/Fri: 13.33 + 13.33 + 13.34 (the remainder on the later days), as in resource
    periods = always(4000, [1, 3, 5])
    week = [date(2026, 11, 9) + timedelta(days=i) for i in range(7)]
    assert [daily_capacity(periods, day) for day in week] == [1333, 0, 1333, 0, 1334, 0, 0]
    # when Friday is a whole-day absence, then 26.66 h are expected, what the resource service shows
    friday_off = ("2026-11-13", "2026-11-13", None)
    assert expected_centi(periods, [friday_off], "2026-W46") == 2666
    # an absence of more hours than the day has takes the day
    assert expected_centi(periods, [("2026-11-09", "2026-11-09", 2400)], "2026-W46") == 2667


def test_expected_hours_use_the_capacity_in_force_in_the_week():
    # given 37.5 h over Mon-Fri, cut to 20 h from Mon 2026-12-07 (W50), then Mon-Wed only from Wed 2026-12-16
    periods = [(None, 3750, [1, 2, 3, 4, 5]), ("2026-12-07", 2000, [1, 2, 3, 4, 5]),
               ("2026-12-16", 2000, [1, 2, 3])]
    assert expected_centi(periods, [], "2026-W48") == 3750  # before the cut: the old capacity
    assert expected_centi(periods, [], "2026-W50") == 2000
    # W51: Mon and Tue at 20/5 = 4 h, then Wed as the last of Mon-Wed: 20 h split 6.66/6.67/6.67
    assert expected_centi(periods, [], "2026-W51") == 400 + 400 + 667


def test_reminders_are_only_for_weeks_that_have_ended():
    ensure_week_over("2026-W48", datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc))  # Monday after: fine
    for now in (datetime(2026, 11, 29, 23, 59, tzinfo=timezone.utc),  # the week's last minute
                datetime(2026, 11, 30, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # still Sunday in UTC
                datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc),
                datetime(2026, 1, 1, tzinfo=timezone.utc)):
        with pytest.raises(RuleViolation) as exc:
            ensure_week_over("2026-W48", now)
        assert exc.value.code == "notification.week_not_over"


def test_who_needs_a_reminder():
    assert needs_reminder(1000, 4000, None)
    assert needs_reminder(1000, 4000, "rejected")
    assert not needs_reminder(1000, 4000, "submitted")
    assert not needs_reminder(4000, 4000, None)


def test_the_webhook_body_is_the_source_envelope_and_the_signature_is_hmac():
    mirrored = RecordedEvent(
        id="e1", stream="notification~timesheet-x_2026W48", version=3, position=99, type="TimeLogged",
        schema_version=1, data={"hours": 2}, recorded_at=T0, metadata={"actor": "a", "origin": {
            "service": "timesheet", "stream": "timesheet-x_2026W48", "version": 3, "position": 7,
            "recorded_at": "2026-11-29T10:00:00+00:00"}})
    envelope = original_envelope(mirrored)
    assert envelope["stream"] == "timesheet-x_2026W48" and envelope["position"] == 7
    assert envelope["metadata"] == {"actor": "a"} and envelope["recorded_at"] == "2026-11-29T10:00:00+00:00"
    assert sign("k", "1700000000", b"{}") == \
        "sha256=" + __import__("hmac").new(b"k", b"1700000000.{}", "sha256").hexdigest()


@pytest.mark.parametrize("pattern", ["https://x/{", "https://x/{kind!z}", "https://x/{0}", "https://x/{week:%Y}",
                                     "https://x/{week.year}", "https://x/}"])
def test_a_link_pattern_that_cannot_render_is_refused_with_a_clear_error(pattern):
    with pytest.raises(ValueError) as exc:
        check_link_pattern(pattern)
    assert "LINK_PATTERN" in str(exc.value) and pattern in str(exc.value)


def test_a_valid_link_pattern_renders_and_one_that_fails_on_some_facts_gives_no_link():
    check_link_pattern(None)
    check_link_pattern("https://c.example/{kind}?week={week}&t={threshold:s}&x={{literal}}")
    assert render_link("https://c.example/{kind}/{nothing}", {"kind": "k"}) == "https://c.example/k/"
    # ":s" fits the blank string it is checked with, not the number a budget threshold carries: no link
    assert render_link("https://c.example/{threshold:s}", {"threshold": 80}) == ""
    assert render_link("https://c.example/{", {}) == ""
