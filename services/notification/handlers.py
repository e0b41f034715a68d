"""The notification service's commands, one function each: given the kit handle (``chronicle``, whose ``caller``
is the verified caller) and the validated arguments, it checks who asks, runs the domain's rule through the kit
and says what happened. Times come in as arguments (``now``: the wall clock, recorded on events): nothing here
reads a clock or holds SQL.

Reads that check who asks or that the thing exists are here too; plain reads are ``views`` queries."""
from __future__ import annotations

import secrets
from datetime import datetime, time

from shared import config as cfg
from shared.errors import Conflict, NotFound, ValidationError
from shared.handling import derive_id
from shared.validation import hours

from . import access, targets, views
from .domain import (
    Delivery,
    Notification,
    Preferences,
    Reminders,
    Webhook,
    ensure_week_over,
    iso,
    reminder_week_due,
)


# -- inbox ------------------------------------------------------------------------------------------
def inbox(chronicle, args):
    access.require_own(chronicle.caller, args["user_id"], "inbox")
    return chronicle.query(lambda db: views.inbox(db, args["user_id"], args["unread_only"], args["limit"]),
                           min_position=args["min_position"])


def notification(chronicle, args, held):
    """``held``: why e-mails are not attempted now (the courier's), shown on a pending e-mail."""
    found = chronicle.query(lambda db: views.notification(db, args["notification_id"], held),
                            min_position=args["min_position"])
    if found is None:
        raise NotFound(f"notification {args['notification_id']} not found", code="notification.not_found")
    access.require_own(chronicle.caller, found["recipient_id"], "notification")
    return found


def mark_read(chronicle, args, now: datetime):
    access.require_own(chronicle.caller, args["user_id"], "inbox")
    notification = chronicle.get(Notification, args["notification_id"], what="notification")
    access.require_own(chronicle.caller, notification.recipient_id, "notification")
    outcome = chronicle.execute(Notification, args["notification_id"],
                                lambda n: n.mark_read(args["user_id"], iso(now)), command_id=args["command_id"])
    return {"id": args["notification_id"], "read": True, "position": outcome.position}


def person(chronicle, args, today):
    found = chronicle.query(lambda db: views.person_card(db, args["person_id"], today),
                            min_position=args["min_position"])
    if found is None:
        raise NotFound(f"person {args['person_id']} not known yet", code="person.not_found")
    return found


# -- preferences ------------------------------------------------------------------------------------
def set_preferences(chronicle, args):
    access.require_own(chronicle.caller, args["user_id"], "preferences")
    outcome = chronicle.execute(
        Preferences, args["user_id"],
        lambda p: p.set(args["email"], args["inapp"], args["muted_kinds"], args["kinds"]),
        command_id=args["command_id"],
    )
    p = outcome.aggregate
    return {"user_id": p.user_id, "email": p.email, "inapp": p.inapp, "muted_kinds": p.muted_kinds,
            "kinds": p.kinds, "position": outcome.position}


def get_preferences(chronicle, args):
    access.require_own(chronicle.caller, args["user_id"], "preferences")
    return chronicle.query(lambda db: views.preferences_shown(db, args["user_id"]), min_position=args["min_position"])


# -- webhooks ---------------------------------------------------------------------------------------
def register_webhook(chronicle, args, now: datetime):
    webhook_id = derive_id(args["command_id"], "webhook")

    def target_allowed():
        # Checked for a new registration only: a retry returns the first one even if the host resolves
        # elsewhere since.
        try:
            targets.resolve(args["url"], cfg.flag(chronicle.config, "WEBHOOK_ALLOW_PRIVATE", False))
        except targets.TargetRefused as exc:
            raise ValidationError({"url": [f"{str(exc)[0].upper()}{str(exc)[1:]}."]}, code=exc.code) from None

    secret = args["secret"] or secrets.token_hex(32)
    outcome = chronicle.execute(
        Webhook, webhook_id,
        lambda w: w.register(args["url"], args["event_types"], secret, args["description"], iso(now)),
        command_id=args["command_id"], precheck=target_allowed,
    )
    registered = chronicle.stream(outcome.aggregate.stream)[0].data
    return {"id": webhook_id, "secret": registered["secret"], "url": registered["url"],
            "event_types": registered["event_types"], "description": registered["description"],
            "position": outcome.position}


def remove_webhook(chronicle, args, now: datetime):
    chronicle.get(Webhook, args["webhook_id"], what="webhook")
    outcome = chronicle.execute(Webhook, args["webhook_id"], lambda w: w.remove(iso(now)),
                                command_id=args["command_id"])
    return {"id": args["webhook_id"], "removed": True, "position": outcome.position}


def deliveries(chronicle, args):
    found = chronicle.query(lambda db: views.deliveries(db, args["webhook_id"], args["limit"]),
                            min_position=args["min_position"])
    if found is None:
        raise NotFound(f"webhook {args['webhook_id']} not found", code="webhook.not_found")
    return found


def redeliver(chronicle, args, now: datetime, courier):
    delivery = chronicle.get(Delivery, args["delivery_id"], what="delivery")
    outcome = _redeliver(chronicle, delivery, args["command_id"], now)
    courier.send_soon()
    return {"id": args["delivery_id"], "status": outcome.aggregate.status, "position": outcome.position}


def _redeliver(chronicle, delivery, command_id, now):
    # Decided on the webhook as it stands: a removal meanwhile decides again (and refuses).
    return chronicle.execute(
        Delivery, delivery.id, lambda d, webhook: d.redeliver(now, webhook_removed=webhook.removed),
        command_id=command_id, reads=[(Webhook, delivery.webhook_id)])


# -- dead e-mails and deliveries --------------------------------------------------------------------
def resend_email(chronicle, args, now: datetime, courier):
    """A dead (or sent) e-mail is sent again with a fresh retry budget: ``redeliver`` for e-mails."""
    chronicle.get(Notification, args["notification_id"], what="notification")
    outcome = chronicle.execute(Notification, args["notification_id"], lambda n: n.resend_email(now),
                                command_id=args["command_id"])
    courier.send_soon()
    return {"id": args["notification_id"], "status": views.email_status(outcome.aggregate.email_status,
                                                                        courier.email_held),
            "position": outcome.position}


def resend_delivery(chronicle, args, now: datetime, courier):
    """Resend one dead e-mail (by notification id) or webhook delivery (by delivery id)."""
    return _resend(chronicle, args["delivery_id"], args["command_id"], now, courier)


def resend_dead(chronicle, args, now: datetime, courier):
    """Resend every dead e-mail and webhook delivery (up to ``limit``); deliveries of removed webhooks are
    skipped. A retry with the same ``command_id`` resends nothing twice (the id is scoped to each one)."""
    resent, skipped, position = [], [], None
    for row in chronicle.query(lambda db: views.dead_rows(db, args["limit"])):
        try:
            out = _resend(chronicle, row["id"], args["command_id"], now, courier)
        except Conflict as exc:
            skipped.append({"channel": row["channel"], "id": row["id"], "code": exc.code})
            continue
        resent.append({"channel": row["channel"], "id": row["id"]})
        position = out["position"]
    return {"resent": resent, "skipped": skipped, "position": position}


def _resend(chronicle, item_id, command_id, now, courier):
    delivery = chronicle.load(Delivery, item_id)
    if delivery.exists:
        outcome = _redeliver(chronicle, delivery, command_id, now)
        channel, status = "webhook", outcome.aggregate.status
    elif chronicle.load(Notification, item_id).exists:
        outcome = chronicle.execute(Notification, item_id, lambda n: n.resend_email(now), command_id=command_id)
        channel, status = "email", views.email_status(outcome.aggregate.email_status, courier.email_held)
    else:
        raise NotFound(f"no e-mail or webhook delivery {item_id}", code="delivery.not_found")
    courier.send_soon()
    return {"id": item_id, "channel": channel, "status": status, "position": outcome.position}


# -- reminders --------------------------------------------------------------------------------------
def send_reminders(chronicle, args, now: datetime, calendar_now: datetime):
    """Remind now, for ``week`` (one that has ended by ``calendar_now``): a new round each call (idempotent per
    ``command_id``)."""
    ensure_week_over(args["week"], calendar_now)
    return _remind(chronicle, args["week"], "rpc", args["command_id"], now)


def remind_by_timer(chronicle, now: datetime, calendar_now: datetime):
    """The timer's round: once per week, when the week's reminder is due at ``calendar_now``."""
    weekday = int(cfg.number(chronicle.config, "REMINDER_WEEKDAY", 1))
    at = time.fromisoformat(str(cfg._get(chronicle.config, "REMINDER_TIME", "09:00")))
    week = reminder_week_due(calendar_now, weekday, at)
    if week is None or chronicle.load(Reminders, week).rounds:
        return None
    return _remind(chronicle, week, "timer", f"reminders:timer:{week}", now)


def _remind(chronicle, week, trigger, command_id, now):
    # The freshest facts: pull the sources' feeds (cheap when nothing is new), then the views.
    chronicle.pull_all()
    chronicle.catch_up()
    candidates = chronicle.query(lambda db: views.reminder_candidates(db, week))
    resources = [{"resource_id": c["resource_id"], "logged_hours": hours(c["logged_centi"]),
                  "expected_hours": hours(c["expected_centi"])} for c in candidates]
    outcome = chronicle.execute(Reminders, week, lambda r: r.send(resources, trigger, iso(now)),
                                command_id=command_id, actor="notification")
    sent = outcome.events[-1].data if outcome.events else {"resources": [], "round": outcome.aggregate.rounds}
    return {"week": week, "round": sent["round"], "resources": sent["resources"], "position": outcome.position}
