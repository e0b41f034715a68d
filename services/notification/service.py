"""The notification nameko service: its entrypoints (RPCs, the reminder timer) over the handlers
(``handlers.py``) and the views' queries (``views.py``), and the courier that sends."""
from __future__ import annotations

from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.kit import Chronicle
from shared.validation import load

from . import followup_handlers, handlers, views
from .access import PEOPLE
from .courier import Courier
from .events import events
from .extensions import Clock, ConfiguredTimer, LinkPattern
from .followup_views import FollowUpFacts, followup_checks
from .projections import Facts, Hooks, Inbox
from .reactors import Notifier
from .schemas import (
    DeadDeliveriesSchema,
    DeliveriesSchema,
    FollowUpChecksSchema,
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


class NotificationService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "notification"
    chronicle = Chronicle(
        categories=CATEGORIES["notification"], internal_categories=INTERNAL_CATEGORIES, events=events,
        projections=lambda: [Facts(), Inbox(), Hooks(), FollowUpFacts()], reactors=lambda: [Notifier()],
        sources=sources("project", "timesheet", "resource"),
    )
    courier = Courier()
    clock = Clock()
    link_pattern = LinkPattern()

    # -- inbox ------------------------------------------------------------------------------------
    @rpc
    def inbox(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="an inbox")
        return handlers.inbox(self.chronicle, load(InboxSchema, kwargs))

    @rpc
    def mark_read(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="marking a notification read")
        return handlers.mark_read(self.chronicle, load(MarkReadSchema, kwargs), self.clock().wall)

    @rpc
    def notification(self, **kwargs):
        """One notification with its e-mail state and attempts (for its recipient and operators)."""
        self.chronicle.caller.require(*PEOPLE, what="notification")
        return handlers.notification(self.chronicle, load(NotificationSchema, kwargs), self.courier.email_held)

    @rpc
    def notifications_for(self, **kwargs):
        """Every notification caused by one source event: who was told, and over which channels (support)."""
        self.chronicle.caller.require("admin", what="notifications_for")
        args = load(NotificationsForSchema, kwargs)
        return self.chronicle.query(
            lambda db: views.notifications_for(db, args["source_event_id"], self.courier.email_held),
            min_position=args["min_position"])

    @rpc
    def person(self, **kwargs):
        """What this service knows of a person from the other services' events (name, e-mail, and the
        capacity in force today): support, since it holds e-mail addresses."""
        self.chronicle.caller.require("admin", what="person")
        return handlers.person(self.chronicle, load(PersonSchema, kwargs), self.clock().calendar.date())

    @rpc
    def reminder_rounds(self, **kwargs):
        """The reminder rounds sent for ``week`` (by the timer or over RPC)."""
        self.chronicle.caller.require("admin", what="reminder_rounds")
        args = load(ReminderRoundsSchema, kwargs)
        return self.chronicle.query(lambda db: views.reminder_rounds(db, args["week"]),
                                    min_position=args["min_position"])

    # -- preferences ------------------------------------------------------------------------------
    @rpc
    def set_preferences(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="preferences")
        return handlers.set_preferences(self.chronicle, load(SetPreferencesSchema, kwargs))

    @rpc
    def get_preferences(self, **kwargs):
        self.chronicle.caller.require(*PEOPLE, what="preferences")
        return handlers.get_preferences(self.chronicle, load(GetPreferencesSchema, kwargs))

    # -- webhooks ---------------------------------------------------------------------------------
    @rpc
    def register_webhook(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhooks")
        return handlers.register_webhook(self.chronicle, load(RegisterWebhookSchema, kwargs), self.clock().wall)

    @rpc
    def list_webhooks(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhooks")
        args = load(ListWebhooksSchema, kwargs)
        return self.chronicle.query(views.webhooks, min_position=args["min_position"])

    @rpc
    def remove_webhook(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhooks")
        return handlers.remove_webhook(self.chronicle, load(WebhookIdSchema, kwargs), self.clock().wall)

    @rpc
    def deliveries(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhook deliveries")
        return handlers.deliveries(self.chronicle, load(DeliveriesSchema, kwargs))

    @rpc
    def redeliver(self, **kwargs):
        self.chronicle.caller.require("admin", what="webhook deliveries")
        return handlers.redeliver(self.chronicle, load(RedeliverSchema, kwargs), self.clock().wall, self.courier)

    # -- dead e-mails and deliveries ---------------------------------------------------------------
    @rpc
    def resend_email(self, **kwargs):
        """A dead (or sent) e-mail is sent again with a fresh retry budget: ``redeliver`` for e-mails."""
        self.chronicle.caller.require("admin", what="resending e-mails")
        return handlers.resend_email(self.chronicle, load(ResendEmailSchema, kwargs), self.clock().wall,
                                     self.courier)

    @rpc
    def dead_deliveries(self, **kwargs):
        """Dead e-mails and webhook deliveries, oldest first: what ``resend_delivery``/``resend_dead`` repair."""
        self.chronicle.caller.require("admin", what="dead deliveries")
        args = load(DeadDeliveriesSchema, kwargs)
        return self.chronicle.query(lambda db: views.dead_rows(db, args["limit"]), min_position=args["min_position"])

    @rpc
    def resend_delivery(self, **kwargs):
        """Resend one dead e-mail (by notification id) or webhook delivery (by delivery id)."""
        self.chronicle.caller.require("admin", what="resending deliveries")
        return handlers.resend_delivery(self.chronicle, load(RedeliverSchema, kwargs), self.clock().wall,
                                        self.courier)

    @rpc
    def resend_dead(self, **kwargs):
        """Resend every dead e-mail and webhook delivery (up to ``limit``); deliveries of removed webhooks are
        skipped. A retry with the same ``command_id`` resends nothing twice (the id is scoped to each one)."""
        self.chronicle.caller.require("admin", what="resending deliveries")
        return handlers.resend_dead(self.chronicle, load(ResendDeadSchema, kwargs), self.clock().wall, self.courier)

    # -- reminders --------------------------------------------------------------------------------
    @rpc
    def send_reminders(self, **kwargs):
        """Remind now, for ``week`` (one that has ended): a new round each call (idempotent per ``command_id``)."""
        self.chronicle.caller.require("admin", what="sending reminders")
        now = self.clock()
        return handlers.send_reminders(self.chronicle, load(SendRemindersSchema, kwargs), now.wall, now.calendar)

    @ConfiguredTimer.decorator(interval=60)
    def reminder_timer(self):
        now = self.clock()
        return handlers.remind_by_timer(self.chronicle, now.wall, now.calendar)

    # -- follow-up (issue 17) ----------------------------------------------------------------------
    @ConfiguredTimer.decorator(interval=60)
    def followup_timer(self):
        """Chase approvals waiting too long; once a week, who missed their hours two weeks in a row."""
        now = self.clock()
        return followup_handlers.follow_up_by_timer(self.chronicle, now.wall, now.calendar)

    @rpc
    def followup_checks(self, **kwargs):
        """What follow-up recorded for ``week``: its missed-hours check and the approvals of that week chased."""
        self.chronicle.caller.require("admin", what="followup_checks")
        args = load(FollowUpChecksSchema, kwargs)
        return self.chronicle.query(lambda db: followup_checks(db, args["week"]), min_position=args["min_position"])
