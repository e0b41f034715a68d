"""The project's approved hours are the timesheet's. Given random command sequences on an employee's weeks, the
project's TimeEntriesView, fed the events the timesheet domain recorded (each checked against the timesheet's own
schemas), counts as approved exactly the hours whose status the timesheet gives as approved
(``services/timesheet/domain.entry_status``). No I/O: the view runs on an in-memory SQLite database."""
from datetime import datetime, timezone

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.project.projections import TimeEntriesView, entries_by_employee
from services.timesheet.domain import APPROVED, ProjectFacts, Timesheet, timesheet_id
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
some_project = st.none() | project  # None: every line the approver may decide
entry = st.integers(0, 5)  # the n-th entry logged in the week, if there is one
centi_hours = st.sampled_from([25, 100, 250, 800])
step = st.tuples(st.sampled_from(WEEKS), st.one_of(
    st.tuples(st.just("log"), project, st.integers(0, 6), centi_hours),
    st.tuples(st.just("amend"), entry, centi_hours),
    st.tuples(st.just("delete"), entry),
    st.tuples(st.just("submit")),
    st.tuples(st.just("approve"), some_project),
    st.tuples(st.just("reject"), some_project),
    st.tuples(st.just("reopen")),
))


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


W48 = WEEKS[0]


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=40))
@example([(W48, ("log", "project-a", 0, 100)), (W48, ("log", "project-b", 1, 250)), (W48, ("submit",)),
          (W48, ("approve", "project-b")), (W48, ("reject", "project-a"))])  # A's rejection takes B's approval
def test_the_projects_approved_hours_are_the_timesheets(steps):
    db = ViewStore(":memory:").conn
    view = TimeEntriesView()
    view.setup(db)
    sheets = {week: Timesheet(timesheet_id(EMP, week)) for week in WEEKS}
    logged = {week: [] for week in WEEKS}
    position = 0
    for week, command in steps:
        sheet = sheets[week]
        try:
            run(sheet, command, logged[week])
        except (RuleViolation, Forbidden, NotFound):
            continue  # refused: nothing recorded
        for event in sheet.pending:
            position += 1
            version = events.validate(event.type, event.data)  # the producer's schema, as a consumer checks
            view.apply(db, RecordedEvent(
                id=str(position), stream=sheet.stream, version=position, position=position, type=event.type,
                schema_version=version, data=event.data, recorded_at=RECORDED_AT, metadata={}))
        sheet.pending.clear()
        assert project_approved(db) == producer_approved(sheets.values()), (week, command)
