"""The timesheet nameko service: hours logged per employee-week, approvals, period locks, exports.

Only entrypoints: each RPC loads its arguments and hands them to its handler (``handlers.py``: the orchestration;
``domain.py``: the rules; ``views.py``: the queries). The clocks are here, passed in. Entry point:
``nameko run services.timesheet.service``.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from shared import config as cfg
from shared import entrypoints
from shared.catalog import CATEGORIES, sources
from shared.entrypoints import rpc
from shared.kit import Chronicle
from shared.rates import RatesView
from shared.validation import load

from . import close, handlers
from . import schemas as s
from .domain import LOCK_MAX_DAYS_AHEAD
from .events import events
from .projections import ProjectFactsView, TimesheetsView


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _today() -> date:
    """The calendar day a lock is bounded by (the one clock of the lock rule: tests set it)."""
    return datetime.now(timezone.utc).date()


class TimesheetService(entrypoints.KitService):  # by its module: `nameko run` starts every class it finds
    name = "timesheet"
    chronicle = Chronicle(
        categories=CATEGORIES["timesheet"],
        events=events,
        projections=lambda: [ProjectFactsView(), TimesheetsView(), RatesView()],
        sources=sources("project", "resource"),  # resource: people's names and cost rates for the exports
    )

    # -- commands -------------------------------------------------------------------------------
    @rpc
    def log_time(self, **kwargs):
        args = load(s.LogTimeSchema, kwargs)
        return handlers.log_time(self.chronicle, self.chronicle.caller, args)

    @rpc
    def amend_entry(self, **kwargs):
        args = load(s.AmendEntrySchema, kwargs)
        return handlers.amend_entry(self.chronicle, self.chronicle.caller, args)

    @rpc
    def delete_entry(self, **kwargs):
        args = load(s.DeleteEntrySchema, kwargs)
        return handlers.delete_entry(self.chronicle, self.chronicle.caller, args)

    @rpc
    def submit_timesheet(self, **kwargs):
        args = load(s.SubmitSchema, kwargs)
        return handlers.submit_timesheet(self.chronicle, self.chronicle.caller, args)

    @rpc
    def approve_timesheet(self, **kwargs):
        args = load(s.ApproveSchema, kwargs)
        return handlers.approve_timesheet(self.chronicle, self.chronicle.caller, args, now=_now())

    @rpc
    def reject_timesheet(self, **kwargs):
        args = load(s.RejectSchema, kwargs)
        return handlers.reject_timesheet(self.chronicle, self.chronicle.caller, args)

    @rpc
    def reopen_timesheet(self, **kwargs):
        args = load(s.ReopenSchema, kwargs)
        return handlers.reopen_timesheet(self.chronicle, self.chronicle.caller, args)

    @rpc
    def lock_period(self, **kwargs):
        args = load(s.LockPeriodSchema, kwargs)
        margin = int(cfg.number(self.chronicle.config, "LOCK_MAX_DAYS_AHEAD", LOCK_MAX_DAYS_AHEAD))
        return handlers.lock_period(self.chronicle, self.chronicle.caller, args, today=_today(),
                                    max_days_ahead=margin)

    @rpc
    def unlock_period(self, **kwargs):
        args = load(s.UnlockPeriodSchema, kwargs)
        return handlers.unlock_period(self.chronicle, self.chronicle.caller, args)

    # -- queries --------------------------------------------------------------------------------
    @rpc
    def period_lock(self, **kwargs):
        args = load(s.PeriodLockSchema, kwargs)
        return handlers.period_lock(self.chronicle, self.chronicle.caller, args)

    @rpc
    def get_timesheet(self, **kwargs):
        args = load(s.GetTimesheetSchema, kwargs)
        return handlers.get_timesheet(self.chronicle, self.chronicle.caller, args)

    @rpc
    def pending_approvals(self, **kwargs):
        args = load(s.PendingApprovalsSchema, kwargs)
        return handlers.pending_approvals(self.chronicle, self.chronicle.caller, args)

    @rpc
    def project_hours(self, **kwargs):
        args = load(s.ProjectHoursSchema, kwargs)
        return handlers.project_hours(self.chronicle, self.chronicle.caller, args)

    @rpc
    def export_hours(self, **kwargs):
        args = load(s.ExportHoursSchema, kwargs)
        return handlers.export_hours(self.chronicle, self.chronicle.caller, args)

    @rpc
    def history(self, **kwargs):
        args = load(s.HistorySchema, kwargs)
        return handlers.history(self.chronicle, self.chronicle.caller, args)

    # -- the month-end close (close.py) -----------------------------------------------------------
    @rpc
    def correct_entry(self, **kwargs):
        """A locked or invoiced entry corrected: records TimeEntryCorrected (before and after, booked_on)."""
        args = load(s.CorrectEntrySchema, kwargs)
        return close.correct_entry(self.chronicle, self.chronicle.caller, args, today=_today())

    @rpc
    def add_late_entry(self, **kwargs):
        """Hours of a locked day that were never logged: a TimeEntryCorrected with nothing before."""
        args = load(s.AddLateEntrySchema, kwargs)
        return close.add_late_entry(self.chronicle, self.chronicle.caller, args, today=_today())

    @rpc
    def mark_invoiced(self, **kwargs):
        """Entries billed on an invoice: afterwards they change only through a correction."""
        args = load(s.MarkInvoicedSchema, kwargs)
        return close.mark_invoiced(self.chronicle, self.chronicle.caller, args)
