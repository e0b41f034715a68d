"""The courier: sends what is due (e-mails over SMTP, webhook POSTs) in its own managed greenlet, so
network I/O never blocks the projections, and records every attempt as an event.

What is due comes from the read models, which are rebuilt from the store, so retries survive a
restart. Before each attempt the aggregate is loaded from the store (the source of truth) and
checked again. A crash between a send and the recording of its attempt repeats that attempt (a webhook's
``X-Chronicle-Delivery`` id and an e-mail's ``Message-ID`` stay the same, so a receiver can deduplicate).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import smtplib
import ssl
import threading
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import eventlet
import requests
from nameko.extensions import DependencyProvider

from shared import config as cfg
from shared.kit import Chronicle, ChronicleHandle

from . import targets, views
from .domain import Delivery, Notification, backoff_delay

log = logging.getLogger(__name__)

DEFAULT_WEBHOOK_BACKOFF = [10, 60, 300, 1800, 7200, 21600, 43200]  # 8 attempts, 7 waits: 74 170 s, about 20.6 h
DEFAULT_EMAIL_BACKOFF = [30, 120, 600, 3600, 14400]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def schedule(config, key, default) -> list[float]:
    value = cfg._get(config, key)
    if value is None:
        return list(default)
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    return [float(v) for v in value]


# -- signing --------------------------------------------------------------------------------------
def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def original_envelope(event) -> dict:
    """The envelope as the source recorded it: a mirrored foreign event gets its origin's stream,
    version, position and time back, and loses the ``origin`` metadata."""
    envelope = event.to_dict()
    metadata = dict(envelope["metadata"])
    origin = metadata.pop("origin", None)
    if origin:
        envelope.update(stream=origin["stream"], version=origin["version"], position=origin["position"],
                        recorded_at=origin["recorded_at"])
    envelope["metadata"] = metadata
    return envelope


def body_of(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


# -- e-mail ----------------------------------------------------------------------------------------
TLS_MODES = ("none", "starttls", "implicit")


def smtp_settings(config) -> dict:
    """``SMTP_TLS``: ``none``, ``starttls`` or ``implicit`` (SMTPS, port 465 by default); ``SMTP_STARTTLS=true``
    is the older spelling of ``starttls``."""
    tls = str(cfg._get(config, "SMTP_TLS") or ("starttls" if cfg.flag(config, "SMTP_STARTTLS", False)
                                                else "none")).strip().lower()
    if tls not in TLS_MODES:
        raise ValueError(f"SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {tls!r}")
    return {
        "host": cfg._get(config, "SMTP_HOST"),
        "port": int(cfg.number(config, "SMTP_PORT", 465 if tls == "implicit" else 25)),
        "sender": cfg._get(config, "SMTP_FROM", "chronicle@localhost"),
        "tls": tls,
        "ca_file": cfg._get(config, "SMTP_CA_FILE"),
        "user": cfg._get(config, "SMTP_USER"),
        "password": cfg._get(config, "SMTP_PASSWORD"),
        "timeout": cfg.number(config, "SMTP_TIMEOUT", 10.0),
    }


def email_message(sender: str, address: str, created: dict, now: datetime) -> EmailMessage:
    """The message of a notification. Its Message-ID is the notification's, the same on every attempt, so a
    repeat after a crash between a send and its record can be recognised."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "chronicle.invalid"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = created["title"]
    message["Date"] = formatdate(now.timestamp(), usegmt=True)
    message["Message-ID"] = f"<{created['notification_id']}@{domain}>"
    message["X-Chronicle-Notification"] = created["notification_id"]
    message.set_content(created["body"] + "\n")
    return message


class Courier(DependencyProvider):
    name = "courier"

    def setup(self):
        config = self.container.config
        self.config = config
        self.interval = cfg.number(config, "DELIVERY_POLL_INTERVAL", 1.0)
        self.concurrency = max(1, int(cfg.number(config, "DELIVERY_CONCURRENCY", 8)))
        self.webhook_attempts = int(cfg.number(config, "WEBHOOK_MAX_ATTEMPTS", 8))
        self.webhook_backoff = schedule(config, "WEBHOOK_BACKOFF_SECONDS", DEFAULT_WEBHOOK_BACKOFF)
        self.webhook_timeout = cfg.number(config, "WEBHOOK_TIMEOUT", 10.0)
        self.allow_private = cfg.flag(config, "WEBHOOK_ALLOW_PRIVATE", False)
        self.jitter = cfg.number(config, "RETRY_JITTER", 0.2)
        self.email_attempts = int(cfg.number(config, "EMAIL_MAX_ATTEMPTS", 6))
        self.email_backoff = schedule(config, "EMAIL_BACKOFF_SECONDS", DEFAULT_EMAIL_BACKOFF)
        self.smtp = smtp_settings(config)
        # Without an SMTP server e-mails wait (held), they are not attempted and never die of it.
        self.email_held = None if self.smtp["host"] else "SMTP not configured"
        self.wake = threading.Event()
        self._running = False
        self.kit = self.chronicle = None

    def start(self):
        self.kit = next(d for d in self.container.dependencies if isinstance(d, Chronicle))
        self.chronicle = ChronicleHandle(self.kit)  # its reads; each attempt is appended by a handle of its cause
        if self.email_held:
            log.warning("SMTP_HOST is not configured: e-mails are held (not attempted) until it is set and the"
                        " service restarts")
        self._running = True
        self.container.spawn_managed_thread(self._loop, identifier=f"{self.container.service_name}.courier")

    def stop(self):
        self._running = False
        self.wake.set()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    def send_soon(self):
        """Something became due now (a resend): the next round starts without waiting for the poll interval."""
        self.wake.set()

    def _loop(self):
        while self._running:
            self.wake.clear()
            try:
                if self.kit.leadership.active.is_set():  # one replica sends (shared/leadership.py)
                    self.run_once(now_utc())
            except Exception:
                log.exception("courier round failed; retrying")
            if self._running:
                self.wake.wait(self.interval)

    def run_once(self, now: datetime) -> int:
        """Attempt everything due at ``now``. Returns how many attempts were made."""
        emails, deliveries = self.chronicle.query(lambda db: (
            [] if self.email_held else views.due_emails(db, now), views.due_deliveries(db, now)))
        # Each e-mail and delivery is its own aggregate: up to DELIVERY_CONCURRENCY go out at once, so one slow
        # receiver does not hold up the rest.
        work = [(self.send_email, i) for i in emails] + [(self.deliver, i) for i in deliveries]
        pool = eventlet.GreenPool(self.concurrency)
        done = sum(pool.imap(lambda job: job[0](job[1]) if self._running else 0, work))
        if done:
            self.chronicle.catch_up()  # the views show the attempts before the next round
        return done

    def handle(self, trigger) -> ChronicleHandle:
        """Attempts carry the correlation of ``trigger`` (the event that made the work due), which it caused."""
        return ChronicleHandle(self.kit, None, cause=(self, trigger))

    # -- e-mail -------------------------------------------------------------------------------------
    def send_email(self, notification_id) -> int:
        events = self.chronicle.stream(Notification(notification_id).stream)
        notification = Notification.rebuild(notification_id, events)
        now = now_utc()
        if not notification.email_due(now):
            return 0
        created = events[0].data
        trigger = [e for e in events if e.type in ("NotificationCreated", "EmailResent")][-1]
        person = self.chronicle.query(lambda db: views.person(db, created["recipient_id"])) or {}
        address = person.get("email") or created["email"]
        error = None
        if not address:
            error = "no e-mail address known for the recipient yet"
        else:
            error = self._smtp_send(email_message(self.smtp["sender"], address, created, now))
        delay = backoff_delay(self.email_backoff, notification.email_round_attempts + 1, self.jitter, random.random())
        attempt = notification.email_attempts + 1
        self.handle(trigger).execute(
            Notification, notification_id,
            lambda n: n.record_email_attempt(attempted_at=now, address=address, error=error,
                                             max_attempts=self.email_attempts, delay=delay),
            command_id=f"email:{notification_id}:{attempt}", actor="notification",
        )
        if error:
            log.info("e-mail %s attempt %d failed: %s", notification_id, attempt, error)
        return 1

    def _smtp_send(self, message: EmailMessage) -> str | None:
        settings = self.smtp
        try:
            context = ssl.create_default_context(cafile=settings["ca_file"])
            if settings["tls"] == "implicit":
                smtp = smtplib.SMTP_SSL(settings["host"], settings["port"], timeout=settings["timeout"],
                                        context=context)
            else:
                smtp = smtplib.SMTP(settings["host"], settings["port"], timeout=settings["timeout"])
            with smtp:
                if settings["tls"] == "starttls":
                    smtp.starttls(context=context)
                if settings["user"]:
                    smtp.login(settings["user"], settings["password"] or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        return None

    # -- webhooks -----------------------------------------------------------------------------------
    def deliver(self, delivery_id) -> int:
        events = self.chronicle.stream(Delivery(delivery_id).stream)
        delivery = Delivery.rebuild(delivery_id, events)
        now = now_utc()
        if not delivery.due(now):
            return 0
        trigger = [e for e in events if e.type in ("DeliveryScheduled", "DeliveryRedelivered")][-1]
        hook = self.chronicle.query(lambda db: views.webhook(db, delivery.webhook_id))
        if hook is None or hook["removed_position"] is not None:
            self.handle(trigger).execute(Delivery, delivery_id, lambda d: d.abandon("webhook removed", now),
                                         command_id=f"abandon:{delivery_id}:{delivery.attempts}", actor="notification")
            return 1
        status_code, error, permanent = self._post(delivery, hook, now)
        attempt = delivery.attempts + 1
        delay = backoff_delay(self.webhook_backoff, delivery.round_attempts + 1, self.jitter, random.random())
        self.handle(trigger).execute(
            Delivery, delivery_id,
            lambda d: d.record_attempt(attempted_at=now, status_code=status_code, error=error,
                                       max_attempts=self.webhook_attempts, delay=delay, permanent=permanent),
            command_id=f"attempt:{delivery_id}:{attempt}", actor="notification",
        )
        return 1

    def _post(self, delivery, hook, now):
        # Resolved once and checked; the request goes to that address (no second lookup to rebind).
        try:
            target = targets.resolve(hook["url"], self.allow_private)
        except targets.TargetRefused as exc:
            if exc.code == "webhook.private_address":
                return None, f"refused: {exc}"[:500], True
            return None, f"unresolvable: {exc}"[:500], False  # DNS may answer later: retried
        recorded = self.chronicle.event_at(delivery.source_stream, delivery.source_version)
        if recorded is None:
            return None, "the event is not in the store", True
        body = body_of(original_envelope(recorded))
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Chronicle-Webhooks/1",
            "X-Chronicle-Event": delivery.event_type,
            "X-Chronicle-Delivery": delivery.id,
            "X-Chronicle-Timestamp": timestamp,
            "X-Chronicle-Signature": sign(hook["secret"], timestamp, body),
        }
        try:
            with targets.pinned_session(target) as session:
                response = session.post(hook["url"], data=body, headers=headers, timeout=self.webhook_timeout,
                                        allow_redirects=False)
        except requests.Timeout as exc:
            return None, f"timeout: {exc}"[:500], False
        except requests.RequestException as exc:
            return None, f"connection error: {exc}"[:500], False
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}: {response.text[:200]}"
        return response.status_code, error, False
