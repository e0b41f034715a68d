"""The courier: sends what is due (e-mails over SMTP, webhook POSTs) in its own managed greenlet, so
network I/O never blocks the projections, and records every attempt as an event.

What is due comes from the read models, which are rebuilt from the store, so retries survive a
restart. Before each attempt the aggregate is loaded from the store (the source of truth) and
checked again. A crash between a send and the recording of its attempt repeats at most that one
attempt (a webhook's ``X-Chronicle-Delivery`` id stays the same, so a receiver can deduplicate).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import smtplib
import socket
import threading
from datetime import datetime, timezone
from email.message import EmailMessage
from urllib.parse import urlsplit

import requests
from nameko.extensions import DependencyProvider

from shared import config as cfg
from shared.handling import load
from shared.kit import Chronicle, ChronicleHandle

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


# -- target limits --------------------------------------------------------------------------------
def private_address(url: str) -> str | None:
    """The first private, loopback, link-local or reserved address the URL's host resolves to."""
    host = urlsplit(url).hostname
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return None  # unresolvable now: the delivery will fail and retry
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_multicast or address.is_unspecified):
            return str(address)
    return None


class Courier(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.config = config
        self.interval = cfg.number(config, "DELIVERY_POLL_INTERVAL", 1.0)
        self.webhook_attempts = int(cfg.number(config, "WEBHOOK_MAX_ATTEMPTS", 8))
        self.webhook_backoff = schedule(config, "WEBHOOK_BACKOFF_SECONDS", DEFAULT_WEBHOOK_BACKOFF)
        self.webhook_timeout = cfg.number(config, "WEBHOOK_TIMEOUT", 10.0)
        self.allow_private = cfg.flag(config, "WEBHOOK_ALLOW_PRIVATE", False)
        self.jitter = cfg.number(config, "RETRY_JITTER", 0.2)
        self.email_attempts = int(cfg.number(config, "EMAIL_MAX_ATTEMPTS", 6))
        self.email_backoff = schedule(config, "EMAIL_BACKOFF_SECONDS", DEFAULT_EMAIL_BACKOFF)
        self.smtp = {
            "host": cfg._get(config, "SMTP_HOST"),
            "port": int(cfg.number(config, "SMTP_PORT", 25)),
            "sender": cfg._get(config, "SMTP_FROM", "chronicle@localhost"),
            "starttls": cfg.flag(config, "SMTP_STARTTLS", False),
            "user": cfg._get(config, "SMTP_USER"),
            "password": cfg._get(config, "SMTP_PASSWORD"),
            "timeout": cfg.number(config, "SMTP_TIMEOUT", 10.0),
        }
        self.wake = threading.Event()
        self._running = False
        self.kit = None

    def start(self):
        self.kit = next(d for d in self.container.dependencies if isinstance(d, Chronicle))
        self._running = True
        self.container.spawn_managed_thread(self._loop, identifier=f"{self.container.service_name}.courier")

    def stop(self):
        self._running = False
        self.wake.set()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

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
        stamp = now.timestamp()
        emails, deliveries = self.kit.views.read(lambda db: (
            [r[0] for r in db.execute(
                "SELECT id FROM notifications WHERE email_status = 'pending' AND"
                " (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY position", (stamp,))],
            [r[0] for r in db.execute(
                "SELECT id FROM deliveries WHERE status = 'pending' AND"
                " (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY position", (stamp,))],
        ))
        done = 0
        for notification_id in emails:
            if not self._running:
                break
            done += self.send_email(notification_id)
        for delivery_id in deliveries:
            if not self._running:
                break
            done += self.deliver(delivery_id)
        if done:
            self.kit.runner.run_once()  # the views show the attempts before the next round
        return done

    def handle(self) -> ChronicleHandle:
        return ChronicleHandle(self.kit, None)

    # -- e-mail -------------------------------------------------------------------------------------
    def send_email(self, notification_id) -> int:
        notification, events = load(self.kit.store, self.kit.registry, Notification, notification_id)
        now = now_utc()
        if not notification.email_due(now):
            return 0
        created = events[0].data
        person = self.kit.views.read(lambda db: db.execute(
            "SELECT email FROM people WHERE person_id = ?", (created["recipient_id"],)).fetchone())
        address = (person[0] if person and person[0] else None) or created["email"]
        error = None
        if not address:
            error = "no e-mail address known for the recipient yet"
        elif not self.smtp["host"]:
            error = "SMTP_HOST is not configured"
        else:
            error = self._smtp_send(address, created)
        delay = backoff_delay(self.email_backoff, notification.email_attempts + 1, self.jitter, random.random())
        attempt = notification.email_attempts + 1
        self.handle().execute(
            Notification, notification_id,
            lambda n: n.record_email_attempt(attempted_at=now, address=address, error=error,
                                             max_attempts=self.email_attempts, delay=delay),
            command_id=f"email:{notification_id}:{attempt}", actor="notification",
        )
        if error:
            log.info("e-mail %s attempt %d failed: %s", notification_id, attempt, error)
        return 1

    def _smtp_send(self, address, created) -> str | None:
        message = EmailMessage()
        message["From"] = self.smtp["sender"]
        message["To"] = address
        message["Subject"] = created["title"]
        message["X-Chronicle-Notification"] = created["notification_id"]
        message.set_content(created["body"] + "\n")
        try:
            with smtplib.SMTP(self.smtp["host"], self.smtp["port"], timeout=self.smtp["timeout"]) as smtp:
                if self.smtp["starttls"]:
                    smtp.starttls()
                if self.smtp["user"]:
                    smtp.login(self.smtp["user"], self.smtp["password"] or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        return None

    # -- webhooks -----------------------------------------------------------------------------------
    def deliver(self, delivery_id) -> int:
        delivery, _ = load(self.kit.store, self.kit.registry, Delivery, delivery_id)
        now = now_utc()
        if not delivery.due(now):
            return 0
        hook = self.kit.views.read(lambda db: db.execute(
            "SELECT * FROM webhooks WHERE id = ?", (delivery.webhook_id,)).fetchone())
        if hook is None or hook["removed_position"] is not None:
            self.handle().execute(Delivery, delivery_id, lambda d: d.abandon("webhook removed", now),
                                  command_id=f"abandon:{delivery_id}:{delivery.attempts}", actor="notification")
            return 1
        status_code, error, permanent = self._post(delivery, hook, now)
        attempt = delivery.attempts + 1
        delay = backoff_delay(self.webhook_backoff, delivery.round_attempts + 1, self.jitter, random.random())
        self.handle().execute(
            Delivery, delivery_id,
            lambda d: d.record_attempt(attempted_at=now, status_code=status_code, error=error,
                                       max_attempts=self.webhook_attempts, delay=delay, permanent=permanent),
            command_id=f"attempt:{delivery_id}:{attempt}", actor="notification",
        )
        return 1

    def _post(self, delivery, hook, now):
        if not self.allow_private:
            address = private_address(hook["url"])
            if address:
                return None, f"refused: {address} is a private or loopback address", True
        recorded = self.kit.store.read_stream(delivery.source_stream, delivery.source_version, limit=1)
        if not recorded:
            return None, "the event is not in the store", True
        body = body_of(original_envelope(recorded[0]))
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
            response = requests.post(hook["url"], data=body, headers=headers, timeout=self.webhook_timeout,
                                     allow_redirects=False)
        except requests.Timeout as exc:
            return None, f"timeout: {exc}"[:500], False
        except requests.RequestException as exc:
            return None, f"connection error: {exc}"[:500], False
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}: {response.text[:200]}"
        return response.status_code, error, False
