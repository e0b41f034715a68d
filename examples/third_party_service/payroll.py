"""Payroll: another team's nameko service, built on chronicle-client alone (no Chronicle code).

When a timesheet is approved, it asks Chronicle for that week's hours (an RPC with its own token) and books them.
Approvals made while it was stopped are caught up from the timesheet service's feed when it starts again.
"""
import os
import sqlite3

from chronicle_client import Chronicle
from chronicle_client.entrypoint import chronicle_event
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc


class Ledger(DependencyProvider):
    """The weeks booked, in SQLite (``PAYROLL_DATA_DIR``/payroll.db); one row per approval event."""

    def setup(self):
        directory = self.container.config["PAYROLL_DATA_DIR"]
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "payroll.db")
        with sqlite3.connect(self.path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS booked (event_id TEXT PRIMARY KEY, employee_id TEXT, week TEXT,"
                       " hours REAL)")

    def get_dependency(self, worker_ctx):
        return self

    def book(self, event_id, employee_id, week, hours):
        with sqlite3.connect(self.path) as db:  # by event id: booking an event twice books it once
            db.execute("INSERT OR IGNORE INTO booked VALUES (?, ?, ?, ?)", (event_id, employee_id, week, hours))

    def weeks(self):
        with sqlite3.connect(self.path) as db:
            rows = db.execute("SELECT employee_id, week, hours FROM booked ORDER BY week, employee_id").fetchall()
        return [{"employee_id": e, "week": w, "hours": h} for e, w, h in rows]


class PayrollService:
    name = "payroll"

    config = Config()
    ledger = Ledger()

    @chronicle_event("timesheet", "TimesheetApproved")
    def on_timesheet_approved(self, event):
        employee_id, week = event.data["employee_id"], event.data["week"]
        with Chronicle(self.config["AMQP_URI"], token=self.config["CHRONICLE_TOKEN"]) as chronicle:
            timesheet = chronicle.timesheet.get_timesheet(employee_id=employee_id, week=week)
        self.ledger.book(event.id, employee_id, week, timesheet["total_hours"])

    @rpc
    def booked_weeks(self):
        return self.ledger.weeks()
