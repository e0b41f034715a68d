"""Queries over the read models of ``projections.py``: each takes the views' ``db`` (a sqlite3 connection, as
``ChronicleHandle.query`` gives it) and returns plain data. The RPCs, the reactor and the courier read through
these, so the SQL of a table stays next to the projection that writes it.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

from shared.validation import hours

from .domain import KINDS, PENDING, channels_for, expected_centi, iso, needs_reminder, period_on, week_dates
from .projections import capacity_periods

DEFAULT_PREFERENCES = {"email": True, "inapp": True, "muted_kinds": [], "kinds": {}}


# -- facts from the other services ------------------------------------------------------------------
def person(db, person_id) -> dict | None:
    row = db.execute("SELECT * FROM people WHERE person_id = ?", (person_id,)).fetchone()
    return dict(row) if row else None


def project(db, project_id) -> dict | None:
    row = db.execute("SELECT * FROM projects WHERE project_id = ?", (project_id,)).fetchone()
    return dict(row) if row else None


def capacity_on(db, person_id, day: date) -> int | None:
    """Weekly centi-hours in force on ``day``; None when the person has no capacity known."""
    periods = capacity_periods(db, person_id)
    return period_on(periods, day)[1] if periods else None


def person_card(db, person_id, today: date) -> dict | None:
    """What we know of a person (name, e-mail, the capacity in force ``today``); None if nothing yet."""
    known = person(db, person_id)
    if known is None:
        return None
    return {"id": known["person_id"], "name": known["name"], "email": known["email"],
            "weekly_capacity_hours": hours(capacity_on(db, person_id, today) or 0), "active": bool(known["active"])}


def reminder_candidates(db, week: str) -> list[dict]:
    """Active resources registered by the end of ``week`` whose logged hours for it are below capacity
    minus absences (the capacity in force each day of the week) and whose week is not submitted."""
    days = week_dates(week)
    first, last = days[0].isoformat(), days[-1].isoformat()
    out = []
    for row in db.execute("SELECT * FROM people WHERE active = 1 AND (registered_on IS NULL OR registered_on <= ?)"
                          " ORDER BY person_id", (last,)).fetchall():
        pid = row["person_id"]
        absences = [(r["starts_on"], r["ends_on"], r["hours_per_day"]) for r in db.execute(
            "SELECT * FROM absences WHERE resource_id = ? AND starts_on <= ? AND ends_on >= ?", (pid, last, first))]
        expected = expected_centi(capacity_periods(db, pid), absences, week)
        logged = db.execute("SELECT COALESCE(SUM(hours), 0) FROM entries WHERE employee_id = ? AND week = ?",
                            (pid, week)).fetchone()[0]
        status = db.execute("SELECT status FROM weeks WHERE employee_id = ? AND week = ?", (pid, week)).fetchone()
        if needs_reminder(logged, expected, status[0] if status else None):
            out.append({"resource_id": pid, "logged_centi": logged, "expected_centi": expected})
    return out


# -- inbox ------------------------------------------------------------------------------------------
def email_status(status, held: str | None) -> str | None:
    """``held`` (why e-mails are not attempted, e.g. no SMTP server) shows a pending e-mail as held."""
    return "held" if held and status == PENDING else status


def notification_dict(row) -> dict:
    return {
        "id": row["id"], "kind": row["kind"], "title": row["title"], "body": row["body"],
        "created_at": row["created_at"], "read": bool(row["read"]), "source_event_id": row["source_event_id"],
    }


def inbox(db, user_id, unread_only: bool, limit: int) -> list[dict]:
    sql = "SELECT * FROM notifications WHERE recipient_id = ? AND inapp = 1"
    if unread_only:
        sql += " AND read = 0"
    sql += " ORDER BY position DESC LIMIT ?"
    return [notification_dict(r) for r in db.execute(sql, (user_id, limit))]


def notification(db, notification_id, held: str | None) -> dict | None:
    """One notification with its e-mail state and attempts; None if unknown."""
    row = db.execute("SELECT * FROM notifications WHERE id = ?", (notification_id,)).fetchone()
    if row is None:
        return None
    attempts = db.execute("SELECT * FROM email_attempts WHERE notification_id = ? ORDER BY attempt",
                          (notification_id,)).fetchall()
    return {**notification_dict(row), "recipient_id": row["recipient_id"], "inapp": bool(row["inapp"]),
            "facts": json.loads(row["facts"]), "email": {
                "status": email_status(row["email_status"], held),
                "held": held if row["email_status"] == PENDING else None,
                "attempts": [dict(a) for a in attempts]}}


def notifications_for(db, source_event_id, held: str | None) -> list[dict]:
    return [{**notification_dict(r), "recipient_id": r["recipient_id"], "inapp": bool(r["inapp"]),
             "email_status": email_status(r["email_status"], held)}
            for r in db.execute("SELECT * FROM notifications WHERE source_event_id = ? ORDER BY position",
                                (source_event_id,))]


def preferences(db, user_id) -> dict:
    """A person's channels, muted kinds and per-kind overrides (both channels, nothing muted, no override, until
    they set them)."""
    row = db.execute("SELECT * FROM preferences WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        return {"user_id": user_id, **DEFAULT_PREFERENCES}
    return {"user_id": row["user_id"], "email": bool(row["email"]), "inapp": bool(row["inapp"]),
            "muted_kinds": json.loads(row["muted_kinds"]), "kinds": json.loads(row["kinds"])}


def preferences_shown(db, user_id) -> dict:
    """``preferences`` and, for every kind, the channels it goes out on (``by_kind``)."""
    prefs = preferences(db, user_id)
    return {**prefs, "by_kind": {kind: channels_for(prefs, kind) for kind in KINDS}}


def reminder_rounds(db, week) -> list[dict]:
    rows = [dict(r) for r in db.execute("SELECT * FROM reminders WHERE week = ? ORDER BY round", (week,))]
    return [{**r, "resource_ids": json.loads(r["resource_ids"])} for r in rows]


def due_emails(db, now: datetime) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT id FROM notifications WHERE email_status = 'pending' AND"
        " (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY position", (now.timestamp(),))]


# -- webhooks -----------------------------------------------------------------------------------------
def webhook_dict(row) -> dict:
    return {
        "id": row["id"], "url": row["url"], "event_types": json.loads(row["event_types"]),
        "description": row["description"], "registered_at": row["registered_at"],
    }


def webhooks(db) -> list[dict]:
    return [webhook_dict(r) for r in db.execute(
        "SELECT * FROM webhooks WHERE removed_position IS NULL ORDER BY registered_position")]


def webhook(db, webhook_id) -> dict | None:
    """The registration as projected, with its secret and ``removed_position`` (None while registered)."""
    row = db.execute("SELECT * FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
    return dict(row) if row else None


def webhooks_at(db, position) -> list[dict]:
    """The webhooks registered, and not removed, when the event at ``position`` was recorded."""
    return [{"id": r["id"], "event_types": json.loads(r["event_types"])} for r in db.execute(
        "SELECT id, event_types FROM webhooks WHERE registered_position < ?"
        " AND (removed_position IS NULL OR removed_position > ?)", (position, position))]


def deliveries(db, webhook_id, limit: int) -> list[dict] | None:
    """A webhook's deliveries, newest first, with every attempt; None if the webhook is unknown."""
    if db.execute("SELECT 1 FROM webhooks WHERE id = ?", (webhook_id,)).fetchone() is None:
        return None
    out = []
    for row in db.execute("SELECT * FROM deliveries WHERE webhook_id = ? ORDER BY position DESC LIMIT ?",
                          (webhook_id, limit)).fetchall():
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


def due_deliveries(db, now: datetime) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT id FROM deliveries WHERE status = 'pending' AND"
        " (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY position", (now.timestamp(),))]


# -- dead e-mails and deliveries --------------------------------------------------------------------
def dead_rows(db, limit: int) -> list[dict]:
    """Dead e-mails and webhook deliveries, oldest first, each with its last attempt."""
    emails = [{"channel": "email", "id": r["id"], "recipient_id": r["recipient_id"], "kind": r["kind"],
               "source_event_id": r["source_event_id"], "source_event_type": r["source_event_type"],
               "attempts": r["email_attempts"], "last_attempt_at": r["attempted_at"], "last_error": r["error"],
               "position": r["position"]}
              for r in db.execute(
                  "SELECT n.*, a.attempted_at, a.error FROM notifications n LEFT JOIN email_attempts a ON"
                  " a.notification_id = n.id AND a.attempt = n.email_attempts WHERE n.email_status = 'dead'"
                  " ORDER BY n.position LIMIT ?", (limit,))]
    hooks = [{"channel": "webhook", "id": r["id"], "webhook_id": r["webhook_id"], "source_event_id": r["event_id"],
              "source_event_type": r["event_type"], "attempts": r["attempts"], "last_attempt_at": r["attempted_at"],
              "last_error": r["error"], "position": r["position"]}
             for r in db.execute(
                 "SELECT d.*, a.attempted_at, a.error FROM deliveries d LEFT JOIN delivery_attempts a ON"
                 " a.delivery_id = d.id AND a.attempt = d.attempts WHERE d.status = 'dead'"
                 " ORDER BY d.position LIMIT ?", (limit,))]
    rows = sorted(emails + hooks, key=lambda r: r["position"])[:limit]
    for row in rows:
        del row["position"]
    return rows
