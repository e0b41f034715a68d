"""The notification nameko service: thin RPCs over the kit, the reminder timer and the courier."""
from __future__ import annotations

import json
import secrets as secrets_module
from datetime import datetime, time, timezone

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared import config as cfg
from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.handling import derive_id
from shared.kit import Chronicle
from shared.validation import hours, load

from . import targets
from .courier import Courier
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
from .events import events
from .projections import Facts, Hooks, Inbox, capacity_on, dead_rows, reminder_candidates
from .reactors import Notifier, check_link_pattern
from .schemas import (
    DeadDeliveriesSchema,
    DeliveriesSchema,
    GetPreferencesSchema,
    InboxSchema,
    ListWebhooksSchema,
    MarkReadSchema,
    NotificationSchema,
    NotificationsForSchema,
    PersonSchema,
    RedeliverSchema,
    RegisterWebhookSchema,
    ReminderRoundsSchema,
    ResendDeadSchema,
    ResendEmailSchema,
    SendRemindersSchema,
    SetPreferencesSchema,
    WebhookIdSchema,
)

# Webhook registrations hold their secrets: projected here, never published.
INTERNAL_CATEGORIES = ["webhook"]

# Who may call what (docs/services/notification.md#who-may-call-what): a person's inbox and preferences are
# theirs (or an admin's to see to); webhooks, deliveries, reminders and the support reads are admins'.
PEOPLE = ("admin", "manager", "employee")


class ConfiguredTimer(Timer):
    """A timer whose interval comes from config (``REMINDER_CHECK_SECONDS``), default 60 s."""

    def setup(self):
        self.interval = cfg.number(self.container.config, "REMINDER_CHECK_SECONDS", self.interval)


class Clock(DependencyProvider):
    """Now, in UTC. ``REMINDER_FIXED_NOW`` (ISO datetime, for tests) fixes it."""

    def get_dependency(self, worker_ctx):
        fixed = cfg._get(self.container.config, "REMINDER_FIXED_NOW")
        if fixed:
            moment = datetime.fromisoformat(str(fixed).replace("Z", "+00:00"))
            return lambda: moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        return lambda: datetime.now(timezone.utc)


class LinkPattern(DependencyProvider):
    """Checks ``LINK_PATTERN`` when the container starts: a pattern that cannot render fails fast,
    rather than every notification going out without its link."""

    def setup(self):
        check_link_pattern(cfg._get(self.container.config, "LINK_PATTERN"))

    def get_dependency(self, worker_ctx):
        return cfg._get(self.container.config, "LINK_PATTERN")


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


def notification_dict(row) -> dict:
    return {
        "id": row["id"], "kind": row["kind"], "title": row["title"], "body": row["body"],
        "created_at": row["created_at"], "read": bool(row["read"]), "source_event_id": row["source_event_id"],
    }


def webhook_dict(row) -> dict:
    return {
        "id": row["id"], "url": row["url"], "event_types": json.loads(row["event_types"]),
        "description": row["description"], "registered_at": row["registered_at"],
    }


class NotificationService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "notification"
    chronicle = Chronicle(
        categories=CATEGORIES["notification"], internal_categories=INTERNAL_CATEGORIES, events=events,
        projections=lambda: [Facts(), Inbox(), Hooks()], reactors=lambda: [Notifier()],
        sources=sources("project", "timesheet", "resource"),
    )
    courier = Courier()
    clock = Clock()
    link_pattern = LinkPattern()

    # -- foreign facts ----------------------------------------------------------------------------

    # -- inbox ------------------------------------------------------------------------------------
    @rpc
    def inbox(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="an inbox")
        args = load(InboxSchema, kwargs)
        self._ensure_own(args["user_id"], "inbox")
        sql = "SELECT * FROM notifications WHERE recipient_id = ? AND inapp = 1"
        if args["unread_only"]:
            sql += " AND read = 0"
        sql += " ORDER BY position DESC LIMIT ?"
        return self.chronicle.query(
            lambda db: [notification_dict(r) for r in db.execute(sql, (args["user_id"], args["limit"]))],
            min_position=args["min_position"],
        )

    @rpc
    def mark_read(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="marking a notification read")
        args = load(MarkReadSchema, kwargs)
        self._ensure_own(args["user_id"], "inbox")
        notification = self.chronicle.get(Notification, args["notification_id"], what="notification")
        self._ensure_own(notification.recipient_id, "notification")
        outcome = self.chronicle.execute(
            Notification, args["notification_id"], lambda n: n.mark_read(args["user_id"], now_iso()),
            command_id=args["command_id"],
        )
        return {"id": args["notification_id"], "read": True, "position": outcome.position}

    @rpc
    def notification(self, **kwargs):
        """One notification with its e-mail state and attempts (for its recipient and operators)."""
        self.chronicle.caller.require(*PEOPLE, what="notification")
        args = load(NotificationSchema, kwargs)

        def read(db):
            row = db.execute("SELECT * FROM notifications WHERE id = ?", (args["notification_id"],)).fetchone()
            if row is None:
                return None
            attempts = db.execute("SELECT * FROM email_attempts WHERE notification_id = ? ORDER BY attempt",
                                  (args["notification_id"],)).fetchall()
            return {**notification_dict(row), "recipient_id": row["recipient_id"], "inapp": bool(row["inapp"]),
                    "facts": json.loads(row["facts"]), "email": {
                        "status": self._email_status(row["email_status"]), "held": self._held(row["email_status"]),
                        "attempts": [dict(a) for a in attempts]}}

        found = self.chronicle.query(read, min_position=args["min_position"])
        if found is None:
            raise NotFound(f"notification {args['notification_id']} not found", code="notification.not_found")
        self._ensure_own(found["recipient_id"], "notification")
        return found

    def _held(self, status):
        """Why a pending e-mail is not being attempted (None when it is)."""
        return self.courier.email_held if status == "pending" else None

    def _email_status(self, status):
        return "held" if self._held(status) else status

    def _ensure_own(self, user_id, what):
        """A person acts on their own notifications and preferences only; an admin on anyone's."""
        caller = self.chronicle.caller
        if caller.role != "admin" and user_id != caller.subject:
            raise Forbidden(f"that is another person's {what}", code="auth.not_own")

    @rpc
    def notifications_for(self, **kwargs):
        """Every notification caused by one source event: who was told, and over which channels (support)."""
        self.chronicle.caller.require("admin", what="notifications_for")
        args = load(NotificationsForSchema, kwargs)
        return self.chronicle.query(lambda db: [
            {**notification_dict(r), "recipient_id": r["recipient_id"], "inapp": bool(r["inapp"]),
             "email_status": self._email_status(r["email_status"])}
            for r in db.execute("SELECT * FROM notifications WHERE source_event_id = ? ORDER BY position",
                                (args["source_event_id"],))
        ], min_position=args["min_position"])

    @rpc
    def person(self, **kwargs):
        """What this service knows of a person from the other services' events (name, e-mail, and the
        capacity in force today): support, since it holds e-mail addresses."""
        self.chronicle.caller.require("admin", what="person")
        args = load(PersonSchema, kwargs)
        today = self.clock().astimezone(timezone.utc).date()

        def read(db):
            row = db.execute("SELECT * FROM people WHERE person_id = ?", (args["person_id"],)).fetchone()
            return row and (row, capacity_on(db, args["person_id"], today))

        found = self.chronicle.query(read, min_position=args["min_position"])
        if not found:
            raise NotFound(f"person {args['person_id']} not known yet", code="person.not_found")
        row, capacity = found
        return {"id": row["person_id"], "name": row["name"], "email": row["email"],
                "weekly_capacity_hours": hours(capacity or 0), "active": bool(row["active"])}

    @rpc
    def reminder_rounds(self, **kwargs):
        """The reminder rounds sent for ``week`` (by the timer or over RPC)."""
        self.chronicle.caller.require("admin", what="reminder_rounds")
        args = load(ReminderRoundsSchema, kwargs)
        rows = self.chronicle.query(lambda db: [dict(r) for r in db.execute(
            "SELECT * FROM reminders WHERE week = ? ORDER BY round", (args["week"],))],
            min_position=args["min_position"])
        return [{**r, "resource_ids": json.loads(r["resource_ids"])} for r in rows]

    # -- preferences ------------------------------------------------------------------------------
    @rpc
    def set_preferences(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="preferences")
        args = load(SetPreferencesSchema, kwargs)
        self._ensure_own(args["user_id"], "preferences")
        outcome = self.chronicle.execute(
            Preferences, args["user_id"], lambda p: p.set(args["email"], args["inapp"], args["muted_kinds"]),
            command_id=args["command_id"],
        )
        p = outcome.aggregate
        return {"user_id": p.user_id, "email": p.email, "inapp": p.inapp, "muted_kinds": p.muted_kinds,
                "position": outcome.position}

    @rpc
    def get_preferences(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="preferences")
        args = load(GetPreferencesSchema, kwargs)
        self._ensure_own(args["user_id"], "preferences")
        row = self.chronicle.query(
            lambda db: db.execute("SELECT * FROM preferences WHERE user_id = ?", (args["user_id"],)).fetchone(),
            min_position=args["min_position"],
        )
        if row is None:
            return {"user_id": args["user_id"], "email": True, "inapp": True, "muted_kinds": []}
        return {"user_id": row["user_id"], "email": bool(row["email"]), "inapp": bool(row["inapp"]),
                "muted_kinds": json.loads(row["muted_kinds"])}

    # -- webhooks ---------------------------------------------------------------------------------
    @rpc
    def register_webhook(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhooks")
        args = load(RegisterWebhookSchema, kwargs)
        webhook_id = derive_id(args["command_id"], "webhook")
        # A retry returns the first registration even if the host has resolved elsewhere since.
        outcome = self.chronicle.replayed(Webhook, webhook_id, args["command_id"])
        if outcome is None:
            try:
                targets.resolve(args["url"], cfg.flag(self.chronicle.kit.config, "WEBHOOK_ALLOW_PRIVATE", False))
            except targets.TargetRefused as exc:
                raise ValidationError({"url": [f"{str(exc)[0].upper()}{str(exc)[1:]}."]}, code=exc.code) from None
            secret = args["secret"] or secrets_module.token_hex(32)
            outcome = self.chronicle.execute(
                Webhook, webhook_id,
                lambda w: w.register(args["url"], args["event_types"], secret, args["description"], now_iso()),
                command_id=args["command_id"],
            )
        registered = self.chronicle.stream(outcome.aggregate.stream)[0].data
        return {"id": webhook_id, "secret": registered["secret"], "url": registered["url"],
                "event_types": registered["event_types"], "description": registered["description"],
                "position": outcome.position}

    @rpc
    def list_webhooks(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhooks")
        args = load(ListWebhooksSchema, kwargs)
        return self.chronicle.query(lambda db: [webhook_dict(r) for r in db.execute(
            "SELECT * FROM webhooks WHERE removed_position IS NULL ORDER BY registered_position")],
            min_position=args["min_position"])

    @rpc
    def remove_webhook(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhooks")
        args = load(WebhookIdSchema, kwargs)
        self.chronicle.get(Webhook, args["webhook_id"], what="webhook")
        outcome = self.chronicle.execute(Webhook, args["webhook_id"], lambda w: w.remove(now_iso()),
                                         command_id=args["command_id"])
        return {"id": args["webhook_id"], "removed": True, "position": outcome.position}

    @rpc
    def deliveries(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhook deliveries")
        args = load(DeliveriesSchema, kwargs)

        def read(db):
            if db.execute("SELECT 1 FROM webhooks WHERE id = ?", (args["webhook_id"],)).fetchone() is None:
                return None
            rows = db.execute("SELECT * FROM deliveries WHERE webhook_id = ? ORDER BY position DESC LIMIT ?",
                              (args["webhook_id"], args["limit"])).fetchall()
            out = []
            for row in rows:
                attempts = db.execute(
                    "SELECT attempt, attempted_at, status_code, error, outcome FROM delivery_attempts"
                    " WHERE delivery_id = ? ORDER BY attempt", (row["id"],)).fetchall()
                next_at = row["next_attempt_at"]
                out.append({
                    "id": row["id"], "webhook_id": row["webhook_id"], "event_id": row["event_id"],
                    "event_type": row["event_type"], "status": row["status"], "scheduled_at": row["scheduled_at"],
                    "next_attempt_at": iso(datetime.fromtimestamp(next_at, timezone.utc)) if next_at else None,
                    "attempts": [dict(a) for a in attempts],
                })
            return out

        found = self.chronicle.query(read, min_position=args["min_position"])
        if found is None:
            raise NotFound(f"webhook {args['webhook_id']} not found", code="webhook.not_found")
        return found

    @rpc
    def redeliver(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhook deliveries")
        args = load(RedeliverSchema, kwargs)
        delivery = self.chronicle.get(Delivery, args["delivery_id"], what="delivery")
        removed = self.chronicle.load(Webhook, delivery.webhook_id).removed
        outcome = self.chronicle.execute(
            Delivery, args["delivery_id"],
            lambda d: d.redeliver(datetime.now(timezone.utc), webhook_removed=removed),
            command_id=args["command_id"],
        )
        self.courier.wake.set()
        return {"id": args["delivery_id"], "status": outcome.aggregate.status, "position": outcome.position}

    # -- dead e-mails and deliveries ---------------------------------------------------------------
    @rpc
    def resend_email(self, **kwargs):
        """A dead (or sent) e-mail is sent again with a fresh retry budget: ``redeliver`` for e-mails."""
        self.chronicle.caller.require("admin", what="resending e-mails")
        args = load(ResendEmailSchema, kwargs)
        self.chronicle.get(Notification, args["notification_id"], what="notification")
        outcome = self.chronicle.execute(
            Notification, args["notification_id"], lambda n: n.resend_email(datetime.now(timezone.utc)),
            command_id=args["command_id"],
        )
        self.courier.wake.set()
        return {"id": args["notification_id"], "status": self._email_status(outcome.aggregate.email_status),
                "position": outcome.position}

    @rpc
    def dead_deliveries(self, **kwargs):
        """Dead e-mails and webhook deliveries, oldest first: what ``resend_delivery``/``resend_dead`` repair."""
        self.chronicle.caller.require("admin", what="dead deliveries")
        args = load(DeadDeliveriesSchema, kwargs)
        return self.chronicle.query(lambda db: dead_rows(db, args["limit"]), min_position=args["min_position"])

    @rpc
    def resend_delivery(self, **kwargs):
        """Resend one dead e-mail (by notification id) or webhook delivery (by delivery id)."""
        self.chronicle.caller.require("admin", what="resending deliveries")
        args = load(RedeliverSchema, kwargs)
        return self._resend(args["delivery_id"], args["command_id"])

    @rpc
    def resend_dead(self, **kwargs):
        """Resend every dead e-mail and webhook delivery (up to ``limit``); deliveries of removed webhooks are
        skipped. A retry with the same ``command_id`` resends nothing twice (the id is scoped to each one)."""
        self.chronicle.caller.require("admin", what="resending deliveries")
        args = load(ResendDeadSchema, kwargs)
        resent, skipped, position = [], [], None
        for row in self.chronicle.query(lambda db: dead_rows(db, args["limit"])):
            try:
                out = self._resend(row["id"], args["command_id"])
            except Conflict as exc:
                skipped.append({"channel": row["channel"], "id": row["id"], "code": exc.code})
                continue
            resent.append({"channel": row["channel"], "id": row["id"]})
            position = out["position"]
        return {"resent": resent, "skipped": skipped, "position": position}

    def _resend(self, item_id, command_id):
        delivery = self.chronicle.load(Delivery, item_id)
        if delivery.exists:
            removed = self.chronicle.load(Webhook, delivery.webhook_id).removed
            outcome = self.chronicle.execute(
                Delivery, item_id, lambda d: d.redeliver(datetime.now(timezone.utc), webhook_removed=removed),
                command_id=command_id)
            channel, status = "webhook", outcome.aggregate.status
        elif self.chronicle.load(Notification, item_id).exists:
            outcome = self.chronicle.execute(
                Notification, item_id, lambda n: n.resend_email(datetime.now(timezone.utc)), command_id=command_id)
            channel, status = "email", self._email_status(outcome.aggregate.email_status)
        else:
            raise NotFound(f"no e-mail or webhook delivery {item_id}", code="delivery.not_found")
        self.courier.wake.set()
        return {"id": item_id, "channel": channel, "status": status, "position": outcome.position}

    # -- reminders --------------------------------------------------------------------------------
    @rpc
    def send_reminders(self, **kwargs):
        """Remind now, for ``week`` (one that has ended): a new round each call (idempotent per ``command_id``)."""
        self.chronicle.caller.require("admin", what="sending reminders")
        args = load(SendRemindersSchema, kwargs)
        ensure_week_over(args["week"], self.clock())
        return self._remind(args["week"], "rpc", args["command_id"])

    @ConfiguredTimer.decorator(interval=60)
    def reminder_timer(self):
        config = self.chronicle.kit.config
        weekday = int(cfg.number(config, "REMINDER_WEEKDAY", 1))
        at = time.fromisoformat(str(cfg._get(config, "REMINDER_TIME", "09:00")))
        week = reminder_week_due(self.clock(), weekday, at)
        if week is None:
            return None
        if self.chronicle.load(Reminders, week).rounds:
            return None
        return self._remind(week, "timer", f"reminders:timer:{week}")

    def _remind(self, week, trigger, command_id):
        # The freshest facts: pull the sources' feeds (cheap when nothing is new), then the views.
        self.chronicle.kit.consumer.pull_all()
        self.chronicle.catch_up()
        candidates = self.chronicle.query(lambda db: reminder_candidates(db, week))
        resources = [{"resource_id": c["resource_id"], "logged_hours": hours(c["logged_centi"]),
                      "expected_hours": hours(c["expected_centi"])} for c in candidates]
        outcome = self.chronicle.execute(Reminders, week, lambda r: r.send(resources, trigger, now_iso()),
                                         command_id=command_id, actor="notification")
        sent = outcome.events[-1].data if outcome.events else {"resources": [], "round": outcome.aggregate.rounds}
        return {"week": week, "round": sent["round"], "resources": sent["resources"], "position": outcome.position}

    # -- feed -------------------------------------------------------------------------------------
