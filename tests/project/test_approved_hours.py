"""The project's approved hours are the timesheet's. Given random command sequences on an employee's weeks, the
project's TimeEntriesView, fed the events the timesheet domain recorded (each checked against the timesheet's own
schemas), counts as approved exactly the hours whose status the timesheet gives as approved
(``services/timesheet/domain.entry_status``). No I/O: the view runs on an in-memory SQLite database."""
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.project.projections import TimeEntriesView, entries_by_employee
from services.timesheet.domain import (
    APPROVED,
    EDITABLE,
    PENDING,
    REJECTED,
    ProjectFacts,
    Timesheet,
    timesheet_id,
)
from services.timesheet.events import events
from shared.errors import Forbidden, NotFound, RuleViolation
from shared.eventstore.base import RecordedEvent
from shared.projections import ViewStore
from shared.validation import week_days

EMP, MGR = "employee-1", "manager-1"
PROJECTS = ("project-a", "project-b")
WEEKS = ("2026-W48", "2026-W49")
RECORDED_AT = datetime(2026, 12, 1, tzinfo=timezone.utc)
FACTS = {pid: ProjectFacts(pid, manager_id=MGR, members={EMP}) for pid in PROJECTS}
AUTHORITY = {pid: None for pid in PROJECTS}  # MGR decides every line in their own right

project = st.sampled_from(PROJECTS)
entry = st.integers(0, 5)  # the n-th entry logged in the week, if there is one
centi_hours = st.sampled_from([25, 100, 250, 800])


def commands(sheet: Timesheet):
    """Commands the week takes in its state, mostly: drawn from so that most steps record something."""
    log = st.tuples(st.just("log"), project, st.integers(0, 6), centi_hours)
    if sheet.status in EDITABLE:
        if not sheet.entries:
            return log
        return st.one_of(log, log, st.tuples(st.just("amend"), entry, centi_hours), st.tuples(st.just("delete"), entry),
                         st.just(("submit",)), *([st.just(("reopen",))] if sheet.status == REJECTED else []))
    if sheet.status == APPROVED:
        return st.just(("reopen",))
    pending = [pid for pid, line in sorted(sheet.lines.items()) if line["status"] == PENDING]
    return st.sampled_from([(kind, line) for kind in ("approve", "reject") for line in [*pending, None]]
                           + [("reopen",)])  # None: every line the approver may decide


def run(sheet: Timesheet, command: tuple, logged: list):
    kind, *args = command
    nth = lambda n: logged[n % len(logged)] if logged else "no-such-entry"  # noqa: E731
    if kind == "log":
        pid, day, amount = args
        entry_id = f"{sheet.week}/{len(logged)}"
        sheet.log(entry_id, FACTS[pid], week_days(sheet.week)[day], amount)
        logged.append(entry_id)
    elif kind == "amend":
        entry_id = nth(args[0])
        sheet.amend(entry_id, FACTS.get(sheet.entries.get(entry_id, {}).get("project_id")), {"hours": args[1]})
    elif kind == "delete":
        sheet.delete(nth(args[0]))
    elif kind == "submit":
        sheet.submit({pid: MGR for pid in PROJECTS}, actor_id=EMP)
    elif kind == "approve":
        sheet.approve(MGR, AUTHORITY, project_id=args[0])
    elif kind == "reject":
        sheet.reject(MGR, AUTHORITY, "not right", project_id=args[0])
    else:
        sheet.reopen(MGR, "fix it")


def producer_approved(sheets) -> dict:
    """project_id -> approved centi-hours, as the timesheet domain gives each entry's status."""
    totals = dict.fromkeys(PROJECTS, 0)
    for sheet in sheets:
        for item in sheet.entries.values():
            if sheet.entry_status(item) == APPROVED:
                totals[item["project_id"]] += item["hours"]
    return totals


def project_approved(db) -> dict:
    return {pid: sum(approved for _, _, approved, _ in entries_by_employee(db, pid)) for pid in PROJECTS}


class Weeks:
    """An employee's weeks in the timesheet domain, and the project's view fed what they record."""

    def __init__(self):
        self.db = ViewStore(":memory:").conn
        self.view = TimeEntriesView()
        self.view.setup(self.db)
        self.sheets = {week: Timesheet(timesheet_id(EMP, week)) for week in WEEKS}
        self.logged = {week: [] for week in WEEKS}
        self.position = 0

    def run(self, week, command) -> bool:
        """False: the timesheet refused the command (nothing recorded)."""
        sheet = self.sheets[week]
        try:
            run(sheet, command, self.logged[week])
        except (RuleViolation, Forbidden, NotFound):
            return False
        for event in sheet.pending:
            self.position += 1
            version = events.validate(event.type, event.data)  # the producer's schema, as a consumer checks
            self.view.apply(self.db, RecordedEvent(
                id=str(self.position), stream=sheet.stream, version=self.position, position=self.position,
                type=event.type, schema_version=version, data=event.data, recorded_at=RECORDED_AT, metadata={}))
        sheet.pending.clear()
        return True

    def agree(self) -> bool:
        return project_approved(self.db) == producer_approved(self.sheets.values())


def test_a_rejection_of_one_project_takes_the_approval_of_the_others():
    """Given hours on A and B submitted and B approved, when A is rejected, then B's hours are approved no more."""
    weeks, week = Weeks(), WEEKS[0]
    for command in (("log", "project-a", 0, 100), ("log", "project-b", 1, 250), ("submit",), ("approve", "project-b")):
        assert weeks.run(week, command)
    assert project_approved(weeks.db) == {"project-a": 0, "project-b": 250}
    assert weeks.run(week, ("reject", "project-a"))
    assert project_approved(weeks.db) == {"project-a": 0, "project-b": 0} and weeks.agree()


@settings(max_examples=200, deadline=None, database=None)  # database=None: no .hypothesis folder left behind
@given(st.data())
def test_the_projects_approved_hours_are_the_timesheets(data):
    weeks = Weeks()
    for _ in range(data.draw(st.integers(0, 30), label="steps")):
        week = data.draw(st.sampled_from(WEEKS), label="week")
        command = data.draw(commands(weeks.sheets[week]), label="command")
        weeks.run(week, command)
        assert weeks.agree(), (week, command)
