"""Read models of the notification service.

``Facts`` holds what the other services told us (people, projects, absences, logged hours, week
statuses); ``Inbox`` the notifications, their e-mail state and preferences; ``Hooks`` the webhooks
and their deliveries. Times that the delivery loop compares are stored as epoch seconds.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

from shared.projections import Projection

from .domain import period_on


def centi(value) -> int | None:
    if value is None:
        return None
    return int((Decimal(str(value)) * 100).to_integral_value())


def run_script(db, script: str):
    """Statement by statement: ``executescript`` would commit the runner's open transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def registered_on(event) -> str:
    """The UTC day the source recorded ``event`` (a mirrored event keeps its origin's time)."""
    origin = (event.metadata or {}).get("origin") or {}
    moment = datetime.fromisoformat(origin["recorded_at"]) if origin.get("recorded_at") else event.recorded_at
    return moment.astimezone(timezone.utc).date().isoformat()


def capacity_periods(db, person_id) -> list[tuple]:
    """(effective_from or None, weekly centi-hours, working days), sorted, the first from the beginning."""
    return [(r["effective_from"] or None, r["capacity"], json.loads(r["working_days"])) for r in db.execute(
        "SELECT * FROM capacity_periods WHERE person_id = ? ORDER BY effective_from", (person_id,))]


class Facts(Projection):
    name = "facts"
    # 2: capacity periods with their effective_from; registration day.
    # 3: absences and entries keyed with their owner (their ids are derived by another service and only
    #    unique within the aggregate that holds them: a resource, an employee's week).
    version = 3
    tables = ("people", "capacity_periods", "projects", "absences", "entries", "weeks")

    def setup(self, db):
        run_script(db, """
            CREATE TABLE IF NOT EXISTS people (person_id TEXT PRIMARY KEY, name TEXT, email TEXT,
                active INTEGER NOT NULL DEFAULT 1, registered_on TEXT);
            CREATE TABLE IF NOT EXISTS capacity_periods (person_id TEXT, effective_from TEXT, capacity INTEGER,
                working_days TEXT, PRIMARY KEY (person_id, effective_from));
            CREATE TABLE IF NOT EXISTS projects (project_id TEXT PRIMARY KEY, name TEXT, code TEXT, manager_id TEXT);
            CREATE TABLE IF NOT EXISTS absences (absence_id TEXT, resource_id TEXT, starts_on TEXT,
                ends_on TEXT, hours_per_day INTEGER, PRIMARY KEY (resource_id, absence_id));
            CREATE TABLE IF NOT EXISTS entries (entry_id TEXT, employee_id TEXT, week TEXT, hours INTEGER,
                PRIMARY KEY (employee_id, week, entry_id));
            CREATE TABLE IF NOT EXISTS weeks (employee_id TEXT, week TEXT, status TEXT, PRIMARY KEY (employee_id, week));
        """)

    # resource
    def on_ResourceRegistered(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO people VALUES (?, ?, ?, 1, ?)",
                   (d["resource_id"], d.get("name"), d.get("email"), registered_on(event)))
        db.execute("DELETE FROM capacity_periods WHERE person_id = ?", (d["resource_id"],))
        self._period(db, d["resource_id"], None, centi(d.get("weekly_capacity_hours")) or 0,
                     d.get("working_days") or [])

    def on_ResourceUpdated(self, db, event):
        d, changes = event.data, event.data.get("changes") or {}
        columns = {"name": "name", "email": "email"}
        for field, column in columns.items():
            if field in changes:
                db.execute(f"UPDATE people SET {column} = ? WHERE person_id = ?", (changes[field], d["resource_id"]))
        if "weekly_capacity_hours" in changes or "working_days" in changes:
            # As the resource service does: a new period from effective_from (replacing one that starts the
            # same day), taking what does not change from the period in force that day.
            start = d.get("effective_from")
            periods = capacity_periods(db, d["resource_id"])
            at = (periods[0] if start is None else period_on(periods, date.fromisoformat(start))) if periods \
                else (None, 0, [])
            weekly = (centi(changes["weekly_capacity_hours"]) or 0) if "weekly_capacity_hours" in changes else at[1]
            self._period(db, d["resource_id"], start, weekly, changes.get("working_days", at[2]) or [])

    @staticmethod
    def _period(db, person_id, effective_from, weekly, working_days):
        db.execute("INSERT OR REPLACE INTO capacity_periods VALUES (?, ?, ?, ?)",
                   (person_id, effective_from or "", weekly, json.dumps(working_days)))

    def on_ResourceDeactivated(self, db, event):
        db.execute("UPDATE people SET active = 0 WHERE person_id = ?", (event.data["resource_id"],))

    def on_AbsenceRegistered(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO absences VALUES (?, ?, ?, ?, ?)",
                   (d["absence_id"], d["resource_id"], d["starts_on"], d["ends_on"], centi(d.get("hours_per_day"))))

    def on_AbsenceCancelled(self, db, event):
        db.execute("DELETE FROM absences WHERE resource_id = ? AND absence_id = ?",
                   (event.data["resource_id"], event.data["absence_id"]))

    # project
    def on_ProjectCreated(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?)",
                   (d["project_id"], d.get("name"), d.get("code"), d.get("manager_id")))

    def on_ProjectUpdated(self, db, event):
        d, changes = event.data, event.data.get("changes") or {}
        for field in ("name", "code", "manager_id"):
            if field in changes:
                db.execute(f"UPDATE projects SET {field} = ? WHERE project_id = ?", (changes[field], d["project_id"]))

    # timesheet: an entry is one row per (employee, week) it is in; a move to another week is a
    # TimeEntryDeleted in the old week and a TimeLogged (same entry_id) in the new one.
    def on_TimeLogged(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)",
                   (d["entry_id"], d["employee_id"], d["week"], centi(d["hours"])))

    on_TimeEntryAmended = on_TimeLogged
    on_TimeEntryCorrected = on_TimeLogged  # a correction after the lock: the entry's new state

    def on_TimeEntryDeleted(self, db, event):
        d = event.data
        db.execute("DELETE FROM entries WHERE employee_id = ? AND week = ? AND entry_id = ?",
                   (d["employee_id"], d["week"], d["entry_id"]))

    def _week(self, db, data, status):
        db.execute("INSERT OR REPLACE INTO weeks VALUES (?, ?, ?)", (data["employee_id"], data["week"], status))

    def on_TimesheetSubmitted(self, db, event):
        self._week(db, event.data, "submitted")

    def on_TimesheetApproved(self, db, event):
        self._week(db, event.data, event.data.get("status") or "approved")

    def on_TimesheetRejected(self, db, event):
        self._week(db, event.data, "rejected")

    def on_TimesheetReopened(self, db, event):
        self._week(db, event.data, "reopened")


class Inbox(Projection):
    name = "inbox"
    version = 2  # 2: preferences keep their per-kind overrides (kinds)
    tables = ("notifications", "email_attempts", "preferences", "reminders")

    def setup(self, db):
        run_script(db, """
            CREATE TABLE IF NOT EXISTS notifications (id TEXT PRIMARY KEY, recipient_id TEXT, kind TEXT, title TEXT,
                body TEXT, facts TEXT, created_at TEXT, read INTEGER NOT NULL DEFAULT 0, source_event_id TEXT,
                source_event_type TEXT, inapp INTEGER, email TEXT, email_status TEXT, email_attempts INTEGER
                NOT NULL DEFAULT 0, next_attempt_at REAL, position INTEGER);
            CREATE INDEX IF NOT EXISTS notifications_by_recipient ON notifications (recipient_id, position);
            CREATE INDEX IF NOT EXISTS notifications_by_source ON notifications (source_event_id);
            CREATE INDEX IF NOT EXISTS emails_due ON notifications (email_status, next_attempt_at);
            CREATE TABLE IF NOT EXISTS email_attempts (notification_id TEXT, attempt INTEGER, attempted_at TEXT,
                address TEXT, error TEXT, outcome TEXT, PRIMARY KEY (notification_id, attempt));
            CREATE TABLE IF NOT EXISTS preferences (user_id TEXT PRIMARY KEY, email INTEGER, inapp INTEGER,
                muted_kinds TEXT, kinds TEXT NOT NULL DEFAULT '{}');
            CREATE TABLE IF NOT EXISTS reminders (week TEXT, round INTEGER, trigger TEXT, resource_ids TEXT,
                sent_at TEXT, PRIMARY KEY (week, round));
        """)

    def on_NotificationCreated(self, db, event):
        d = event.data
        db.execute(
            "INSERT OR IGNORE INTO notifications VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, 0, ?, ?)",
            (d["notification_id"], d["recipient_id"], d["kind"], d["title"], d["body"], json.dumps(d["facts"]),
             d["created_at"], d["source_event_id"], d["source_event_type"], int(d["inapp"]), d["email"],
             "pending" if d["send_email"] else None, None, event.position),
        )

    def on_NotificationRead(self, db, event):
        db.execute("UPDATE notifications SET read = 1 WHERE id = ?", (event.data["notification_id"],))

    def on_EmailAttempted(self, db, event):
        d = event.data
        status = "pending" if d["outcome"] == "retry" else d["outcome"]
        db.execute("UPDATE notifications SET email_status = ?, email_attempts = ?, next_attempt_at = ? WHERE id = ?",
                   (status, d["attempt"], epoch(d["next_attempt_at"]), d["notification_id"]))
        db.execute("INSERT OR REPLACE INTO email_attempts VALUES (?, ?, ?, ?, ?, ?)",
                   (d["notification_id"], d["attempt"], d["attempted_at"], d["address"], d["error"], d["outcome"]))

    def on_EmailResent(self, db, event):
        db.execute("UPDATE notifications SET email_status = 'pending', next_attempt_at = NULL WHERE id = ?",
                   (event.data["notification_id"],))

    def on_PreferencesSet(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO preferences VALUES (?, ?, ?, ?, ?)",
                   (d["user_id"], int(d["email"]), int(d["inapp"]), json.dumps(d["muted_kinds"]),
                    json.dumps(d.get("kinds") or {})))

    def on_RemindersSent(self, db, event):
        d = event.data
        db.execute("INSERT OR REPLACE INTO reminders VALUES (?, ?, ?, ?, ?)",
                   (d["week"], d["round"], d["trigger"], json.dumps([r["resource_id"] for r in d["resources"]]),
                    d["sent_at"]))


class Hooks(Projection):
    name = "hooks"
    version = 1
    tables = ("webhooks", "deliveries", "delivery_attempts")

    def setup(self, db):
        run_script(db, """
            CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, url TEXT, event_types TEXT, secret TEXT,
                description TEXT, registered_at TEXT, registered_position INTEGER, removed_position INTEGER);
            CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, webhook_id TEXT, event_id TEXT,
                event_type TEXT, status TEXT, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL,
                scheduled_at TEXT, position INTEGER);
            CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON deliveries (webhook_id, position);
            CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
            CREATE TABLE IF NOT EXISTS delivery_attempts (delivery_id TEXT, attempt INTEGER, attempted_at TEXT,
                status_code INTEGER, error TEXT, outcome TEXT, PRIMARY KEY (delivery_id, attempt));
        """)

    def on_WebhookRegistered(self, db, event):
        d = event.data
        db.execute("INSERT OR IGNORE INTO webhooks VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                   (d["webhook_id"], d["url"], json.dumps(d["event_types"]), d["secret"], d["description"],
                    d["registered_at"], event.position))

    def on_WebhookRemoved(self, db, event):
        db.execute("UPDATE webhooks SET removed_position = ? WHERE id = ?", (event.position, event.data["webhook_id"]))

    def on_DeliveryScheduled(self, db, event):
        d = event.data
        db.execute("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, 'pending', 0, NULL, ?, ?)",
                   (d["delivery_id"], d["webhook_id"], d["event_id"], d["source_event_type"], d["scheduled_at"],
                    event.position))

    def on_DeliveryAttempted(self, db, event):
        d = event.data
        status = "pending" if d["outcome"] == "retry" else d["outcome"]
        db.execute("UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ? WHERE id = ?",
                   (status, d["attempt"], epoch(d["next_attempt_at"]), d["delivery_id"]))
        db.execute("INSERT OR REPLACE INTO delivery_attempts VALUES (?, ?, ?, ?, ?, ?)",
                   (d["delivery_id"], d["attempt"], d["attempted_at"], d["status_code"], d["error"], d["outcome"]))

    def on_DeliveryAbandoned(self, db, event):
        db.execute("UPDATE deliveries SET status = 'dead', next_attempt_at = NULL WHERE id = ?",
                   (event.data["delivery_id"],))

    def on_DeliveryRedelivered(self, db, event):
        db.execute("UPDATE deliveries SET status = 'pending', next_attempt_at = NULL WHERE id = ?",
                   (event.data["delivery_id"],))
