"""The weeks read model stores each entry's status as the domain derives it (``domain.entry_status``), never
worked out again in SQL: after every event of a week's life, the stored status is the aggregate's."""
import sqlite3
from datetime import datetime, timezone
from types import SimpleNamespace

from services.timesheet.domain import Timesheet, entry_status
from services.timesheet.projections import TimesheetsView
from shared.aggregate import DomainEvent

from .test_domain import EMP, P1, P2, REOPENED, TS, approved, logged, rejected, submitted

AT = datetime(2026, 11, 30, tzinfo=timezone.utc)


def test_the_stored_entry_status_is_the_domains_after_every_event_of_a_weeks_life():
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    view, week = TimesheetsView(), Timesheet(TS)
    view.setup(db)
    life = [logged("e1"), logged("e2", pid=P2), submitted(P1, P2), approved(P1, status="partially_approved"),
            rejected(P2), REOPENED, logged("e3", day="2026-11-25"), submitted(P1, P2), approved(P1, P2)]
    seen = set()
    for position, (type, data) in enumerate(life, start=1):
        week.apply(DomainEvent(type, data))
        getattr(view, f"on_{type}")(db, SimpleNamespace(type=type, data=data, recorded_at=AT, position=position))
        stored = dict(db.execute("SELECT entry_id, status FROM ts_entries WHERE employee_id = ?", (EMP,)).fetchall())
        assert stored == {eid: week.entry_status(entry) for eid, entry in week.entries.items()}, type
        seen.update(stored.values())
    assert seen == {"open", "submitted", "approved", "rejected"}


def test_an_entry_status_follows_its_week_phase_then_its_project_line():
    assert entry_status("open", None) == "open" and entry_status("rejected", "approved") == "rejected"
    assert [entry_status("submitted", s) for s in ("pending", "approved", "rejected", None)] == [
        "submitted", "approved", "rejected", "submitted"]
