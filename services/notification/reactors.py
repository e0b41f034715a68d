"""Deciding who is told what: a reactor over the recorded source events (and our own reminder rounds).

Each notification's id is derived from (source event id, recipient, kind), and so is its command id,
so a duplicate source event, a replay or a restart never creates a second one. Webhook deliveries
are derived from (webhook id, event id) the same way. Nothing here touches the network: the courier
sends what is recorded as due.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone

from shared import config as cfg
from shared.handling import derive_id
from shared.reactors import Reactor
from shared.validation import hours

from . import views
from .domain import Delivery, Notification, channels_for, iso, subscribed
from .followup_notices import FollowUpNotices
from .projections import centi

log = logging.getLogger(__name__)

# Categories whose events a webhook may receive: the three sources (as recorded here) and our
# notifications. Never deliveries or webhooks themselves (a delivery of a delivery would loop).
WEBHOOK_CATEGORIES = ("notification", "notification~project", "notification~timesheet",
                      "notification~timesheetlock", "notification~resource")


class _Blank(dict):
    def __missing__(self, key):
        return ""


# What a format string may get wrong: syntax ("{"), a positional field ("{0}"), a conversion ("{kind!z}"),
# a format spec that does not fit the value ("{week:%Y}"), an attribute or an index.
FORMAT_ERRORS = (ValueError, IndexError, KeyError, AttributeError, TypeError)
LINK_FIELDS = ("kind", "week", "project_id", "employee_id", "resource_id", "recipient_id", "threshold", "date")


def check_link_pattern(pattern: str | None) -> None:
    """Refuse a ``LINK_PATTERN`` that cannot be rendered (checked at start-up, with every field blank)."""
    if not pattern:
        return
    try:
        pattern.format_map(_Blank())
    except FORMAT_ERRORS as exc:
        raise ValueError(
            f"LINK_PATTERN {pattern!r} is not a valid link pattern ({type(exc).__name__}: {exc}). It is a Python "
            f"format string over named fields, e.g. https://chronicle.example.com/{{kind}}?week={{week}}; "
            f"fields: {', '.join(LINK_FIELDS)}; write {{{{ and }}}} for literal braces."
        ) from None


def render_link(pattern: str | None, facts: dict) -> str:
    """The link for a notification; no link (rather than no notification) when the pattern does not
    render with these facts (e.g. a format spec that fits only some values)."""
    if not pattern:
        return ""
    try:
        return pattern.format_map(_Blank({k: v for k, v in facts.items() if isinstance(v, (str, int, float))}))
    except FORMAT_ERRORS:
        log.warning("LINK_PATTERN %r does not render with %s: no link", pattern, sorted(facts))
        return ""


def fmt_hours(value) -> str:
    return f"{hours(centi(value))}" if value is not None else "?"


class Notifier(FollowUpNotices, Reactor):
    name = "notifier"

    def handles(self, event_type):
        return True  # every event may match a webhook subscription

    def react(self, chronicle, event):
        # Webhooks first: an event whose notification cannot be made (retried, then parked by the kit)
        # still reaches its subscribers. Both steps are idempotent, so a retry repeats neither.
        if event.category in WEBHOOK_CATEGORIES:
            self.schedule_webhooks(chronicle, event)
        handler = getattr(self, f"on_{event.type}", None)
        if handler is not None and (event.category.startswith("notification~") or event.category == "notification"):
            handler(chronicle, event)

    # -- facts ------------------------------------------------------------------------------------
    def person(self, chronicle, person_id):
        return chronicle.query(lambda db: views.person(db, person_id)) or {}

    def name_of(self, chronicle, person_id):
        return self.person(chronicle, person_id).get("name") or person_id

    def project(self, chronicle, project_id):
        return chronicle.query(lambda db: views.project(db, project_id)) or {}

    def project_label(self, chronicle, project_id, name=None, code=None):
        known = self.project(chronicle, project_id)
        name, code = name or known.get("name"), code or known.get("code")
        if name and code:
            return f"{name} ({code})"
        return name or code or project_id

    # -- the one way to notify ---------------------------------------------------------------------
    def notify(self, chronicle, event, recipient_id, kind, title, lines, facts):
        if not recipient_id:
            return
        channels = channels_for(chronicle.query(lambda db: views.preferences(db, recipient_id)), kind)
        email_on, inapp_on = channels["email"], channels["inapp"]
        if not (email_on or inapp_on):
            return  # a muted kind, or every channel off for it
        facts = {**facts, "kind": kind, "recipient_id": recipient_id}
        link = render_link(cfg._get(chronicle.config, "LINK_PATTERN"), facts)
        body = "\n".join(line for line in lines if line is not None)
        if link:
            body += f"\n\nOpen: {link}"
        address = self.person(chronicle, recipient_id).get("email") if email_on else None
        command_id = f"notify:{event.id}:{recipient_id}:{kind}"
        notification_id = derive_id(command_id, "notification")
        chronicle.execute(
            Notification, notification_id,
            lambda n: n.create(
                recipient_id=recipient_id, kind=kind, title=title, body=body, source_event_id=event.id,
                source_event_type=event.type, facts={**facts, "link": link}, send_email=email_on,
                email=address, inapp=inapp_on, created_at=iso(datetime.now(timezone.utc)),
            ),
            command_id=command_id, actor="notification",
        )

    # -- who is told what ---------------------------------------------------------------------------
    def on_MemberAssigned(self, chronicle, event):
        d = event.data
        project = self.project_label(chronicle, d["project_id"], d.get("project_name"), d.get("project_code"))
        self.notify(
            chronicle, event, d["employee_id"], "member_assigned", f"You were added to project {project}",
            [f"You were added to project {project}.", f"Project: {project}",
             f"Role: {d['role']}" if d.get("role") else None],
            {"project_id": d["project_id"], "project": project},
        )

    def on_TimesheetSubmitted(self, chronicle, event):
        d = event.data
        employee = self.name_of(chronicle, d["employee_id"])
        by_manager = defaultdict(list)
        for line in d.get("projects") or []:
            manager = line.get("manager_id") or self.project(chronicle, line["project_id"]).get("manager_id")
            by_manager[manager].append(line)
        for manager_id, lines in by_manager.items():
            projects = [
                f"- {self.project_label(chronicle, line['project_id'])}: {fmt_hours(line.get('hours'))} h"
                for line in lines
            ]
            self.notify(
                chronicle, event, manager_id, "timesheet_submitted",
                f"{employee} submitted the timesheet for {d['week']}",
                [f"{employee} submitted the timesheet for week {d['week']} ({fmt_hours(d.get('total_hours'))} h"
                 " in total) for your approval.", f"Week: {d['week']}", "Hours on your projects:", *projects],
                {"employee_id": d["employee_id"], "week": d["week"], "project_id": lines[0]["project_id"]},
            )

    def on_TimesheetApproved(self, chronicle, event):
        d = event.data
        approver = self.name_of(chronicle, d.get("approver_id"))
        lines = [f"- {self.project_label(chronicle, line['project_id'])}: {fmt_hours(line.get('hours'))} h"
                 for line in d.get("lines") or []]
        self.notify(
            chronicle, event, d["employee_id"], "timesheet_approved",
            f"Your timesheet for {d['week']} was approved",
            [f"Your timesheet for week {d['week']} was approved by {approver}.", f"Week: {d['week']}",
             "Hours approved:" if lines else None, *lines],
            {"employee_id": d["employee_id"], "week": d["week"]},
        )

    def on_TimesheetRejected(self, chronicle, event):
        d = event.data
        approver = self.name_of(chronicle, d.get("approver_id"))
        projects = ", ".join(self.project_label(chronicle, p) for p in d.get("project_ids") or [])
        self.notify(
            chronicle, event, d["employee_id"], "timesheet_rejected",
            f"Your timesheet for {d['week']} was rejected",
            [f"Your timesheet for week {d['week']} was rejected by {approver}.", f"Week: {d['week']}",
             f"Projects: {projects}" if projects else None, f"Reason: {d.get('reason') or '-'}"],
            {"employee_id": d["employee_id"], "week": d["week"], "reason": d.get("reason") or ""},
        )

    def on_BudgetThresholdReached(self, chronicle, event):
        d = event.data
        manager_id = d.get("manager_id") or self.project(chronicle, d["project_id"]).get("manager_id")
        project = self.project_label(chronicle, d["project_id"], code=d.get("project_code"))
        money = d.get("budget") == "money"  # v2: the money budget has thresholds too (absent: the hours budget)
        budget = "money budget" if money else "budget"
        used = (f"Amount used: {d.get('used_amount')} of {d.get('budget_amount')}" if money else
                f"Hours used: {fmt_hours(d.get('used_hours'))} of {fmt_hours(d.get('budget_hours'))} h")
        self.notify(
            chronicle, event, manager_id, "budget_threshold",
            f"Project {project} reached {d['threshold']}% of its {budget}",
            [f"Project {project} has used {d['threshold']}% of its {budget}.", f"Project: {project}",
             f"Threshold: {d['threshold']}%", used],
            {"project_id": d["project_id"], "project": project, "threshold": d["threshold"],
             "budget": "money" if money else "hours"},
        )

    def on_ResourceOverbooked(self, chronicle, event):
        d = event.data
        resource_id = d["resource_id"]
        name = self.name_of(chronicle, resource_id)
        days = d.get("days") or []
        day_lines = [
            f"- {day['date']}: {fmt_hours(day.get('booked_hours'))} h booked, capacity "
            f"{fmt_hours(day.get('capacity_hours'))} h, absent {fmt_hours(day.get('absence_hours'))} h, "
            f"{fmt_hours(day.get('excess_hours'))} h too many"
            for day in days
        ]
        excess = fmt_hours(d.get("excess_hours"))
        facts = {"resource_id": resource_id, "excess_hours": d.get("excess_hours")}
        if days:
            facts["date"] = days[0]["date"]
        self.notify(chronicle, event, resource_id, "resource_overbooked", "You are overbooked",
                    [f"You are booked {excess} h more than you can work.", "Days:", *day_lines], facts)
        projects = sorted({p for day in days for p in day.get("project_ids") or []})
        managers = defaultdict(list)
        for project_id in projects:
            manager_id = self.project(chronicle, project_id).get("manager_id")
            if manager_id and manager_id != resource_id:
                managers[manager_id].append(self.project_label(chronicle, project_id))
        for manager_id, labels in managers.items():
            self.notify(
                chronicle, event, manager_id, "resource_overbooked", f"{name} is overbooked",
                [f"{name} is booked {excess} h more than they can work, on your projects {', '.join(labels)}.",
                 f"Projects: {', '.join(labels)}", "Days:", *day_lines],
                facts,
            )

    def on_RemindersSent(self, chronicle, event):
        d = event.data
        for r in d["resources"]:
            self.notify(
                chronicle, event, r["resource_id"], "timesheet_reminder",
                f"Please complete your timesheet for {d['week']}",
                [f"Your timesheet for week {d['week']} is not submitted and has {r['logged_hours']} h of the "
                 f"{r['expected_hours']} h expected (capacity minus absences).", f"Week: {d['week']}",
                 f"Hours logged: {r['logged_hours']}", f"Hours expected: {r['expected_hours']}"],
                {"week": d["week"], "employee_id": r["resource_id"]},
            )

    # -- webhooks ---------------------------------------------------------------------------------
    def schedule_webhooks(self, chronicle, event):
        """Every webhook subscribed to this type when the event was recorded gets one delivery."""
        for hook in chronicle.query(lambda db: views.webhooks_at(db, event.position)):
            if not subscribed(hook["event_types"], event.type):
                continue
            command_id = f"deliver:{hook['id']}:{event.id}"
            chronicle.execute(
                Delivery, derive_id(command_id, "delivery"),
                lambda d, hook=hook: d.schedule(
                    webhook_id=hook["id"], event_id=event.id, event_type=event.type, stream=event.stream,
                    stream_version=event.version, scheduled_at=iso(datetime.now(timezone.utc)),
                ),
                command_id=command_id, actor="notification",
            )
