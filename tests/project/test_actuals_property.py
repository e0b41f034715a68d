"""The actuals (the read model's running sums of a project's hours by phase) are what the forecast works out from
every entry, as of every event, whatever the order of hours, rates, phases and tasks (hypothesis over random
sequences): the same hours, the same sum of per-entry rounded amounts (None when nothing is priced), the same
unpriced hours, in the same phase; and the forecast from them is the forecast from the entries. The budget watch's
hours as of an event are the hours ledger's sum, and its money the entries priced one by one. The project's events
come from its aggregate's own commands; no I/O beyond an in-memory SQLite read model."""
from datetime import date, datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.project import forecast as fc
from services.project.domain import Project
from services.project.events import events as project_events
from services.project.forecast_views import (
    ForecastFactsView,
    facts_of,
    project_facts,
    project_plan,
    rate_histories,
)
from services.project.projections import TimeEntriesView, actuals, used_centi, used_cents
from services.timesheet.events import events as timesheet_events
from shared.errors import ChronicleError
from shared.eventstore.base import RecordedEvent
from shared.money import cents
from shared.projections import ViewStore

P, OTHER, CLIENTS, PEOPLE, TASKS, PHASES = "p-1", "p-2", ("c-1", "c-2"), ("e-1", "e-2"), ("t-1", "t-2", "t-3"), (
    "ph-a", "ph-b", "ph-c")
DAYS = [f"2026-03-{d:02d}" for d in range(1, 11)]
DAY = st.sampled_from(DAYS)
RATES = st.one_of(st.none(), st.sampled_from(["0.50", "100.00", "333.33", "1250.00"]))
TODAY = date(2026, 3, 5)

OPERATIONS = st.one_of(
    st.tuples(st.just("log"), st.integers(0, 6), DAY, st.sampled_from([0.01, 0.25, 1, 7.5, 0.33]), st.booleans(),
              st.sampled_from((None, *TASKS)), st.sampled_from(PEOPLE), st.sampled_from(["2026-W10", "2026-W11"])),
    st.tuples(st.just("delete"), st.integers(0, 6)),
    st.tuples(st.just("elsewhere"), st.integers(0, 6)),
    st.tuples(st.just("billing"), st.sampled_from(["project", "task", "member"]), st.integers(0, 1), RATES, DAY),
    st.tuples(st.just("client_rate"), st.sampled_from(CLIENTS), RATES, DAY),
    st.tuples(st.just("member"), st.sampled_from(PEOPLE), RATES),
    st.tuples(st.just("project"), st.sampled_from(["hourly_rate", "client_id"]), st.integers(0, 3)),
    st.tuples(st.just("phase"), st.sampled_from(PHASES), st.one_of(st.none(), DAY), st.integers(0, 5),
              st.integers(0, 2)),
    st.tuples(st.just("phase_dates"), st.sampled_from(PHASES), st.one_of(st.none(), DAY), st.integers(0, 5)),
    st.tuples(st.just("phase_order"), st.sampled_from(PHASES), st.integers(0, 2)),
    st.tuples(st.just("task"), st.sampled_from(TASKS), st.sampled_from((None, *PHASES))),
)


class Feed:
    """The project service's read models, fed one event a transaction; the project's own events also rebuild its
    aggregate as of any position."""

    def __init__(self):
        self.views, self.position = ViewStore(":memory:"), 0
        self.projections = [TimeEntriesView(), ForecastFactsView()]
        self.project = Project(P)
        self.stream: list[RecordedEvent] = []
        with self.views.transaction() as db:
            for projection in self.projections:
                projection.setup(db)

    def __call__(self, registry, event_type, data, stream="s-1"):
        registry.validate(event_type, data)
        self.position += 1
        event = RecordedEvent(id=str(self.position), stream=stream, version=len(self.stream), position=self.position,
                              type=event_type, schema_version=registry.current_version(event_type), data=data,
                              recorded_at=datetime.now(timezone.utc), metadata={})
        with self.views.transaction() as db:
            for projection in self.projections:
                projection.apply(db, event)
        return event

    def command(self, decide):
        """Runs a command on the project; what it records is fed as the project's events (a refused one: none)."""
        try:
            decide(self.project)
        except ChronicleError:
            self.project.pending.clear()
            return
        for pending in self.project.pending:
            self.stream.append(self(project_events, pending.type, pending.data, stream=f"project-{P}"))
        self.project = Project.rebuild(P, self.stream)

    def project_as_of(self, position):
        return Project.rebuild(P, [e for e in self.stream if e.position <= position])


def _dates(start, days):
    return (None, None) if start is None else (start, DAYS[min(DAYS.index(start) + days, len(DAYS) - 1)])


def apply(feed, op, logged):
    kind = op[0]
    if kind == "log":
        _, n, day, hours, billable, task, person, week = op
        entry = dict(entry_id=f"x-{n}", employee_id=person, week=week, project_id=P, task_id=task, date=day,
                     hours=hours, billable=billable)
        before = logged.get(n)
        if before is not None and before["week"] != week:  # a move to another week: both halves
            feed(timesheet_events, "TimeEntryDeleted", {**before, "reason": None, "moved_to_week": week})
            feed(timesheet_events, "TimeLogged", {**entry, "description": "", "moved_from_week": before["week"]})
        elif before is not None:
            feed(timesheet_events, "TimeEntryAmended", {**entry, "description": "", "previous": before})
        else:
            feed(timesheet_events, "TimeLogged", {**entry, "description": ""})
        logged[n] = entry
    elif kind == "delete" and op[1] in logged:
        feed(timesheet_events, "TimeEntryDeleted", {**logged.pop(op[1]), "reason": None})
    elif kind == "elsewhere" and op[1] in logged:  # amended onto another project: it leaves this one
        before = logged.pop(op[1])
        feed(timesheet_events, "TimeEntryAmended", {**before, "project_id": OTHER, "description": "",
                                                    "previous": before})
    elif kind == "billing":
        _, scope, i, rate, day = op
        subject = {"project": None, "task": TASKS[i], "member": PEOPLE[i]}[scope]
        if scope == "task" and subject not in feed.project.tasks:
            return
        if scope == "member" and subject not in feed.project.members:
            return
        feed.command(lambda p: p.set_rate(scope, subject, rate, day))
    elif kind == "client_rate":
        feed(project_events, "ClientRateSet", dict(client_id=op[1], rate=op[2], effective_from=op[3]))
    elif kind == "member":
        feed.command(lambda p: p.assign_member(op[1], hourly_rate=op[2]))
    elif kind == "project":
        _, field, i = op
        value = ["90.00", None, "120.50", "75.00"][i] if field == "hourly_rate" else (*CLIENTS, None, CLIENTS[0])[i]
        feed.command(lambda p: p.update({field: value}))
    elif kind == "phase":
        _, phase_id, start, days, position = op
        starts_on, ends_on = _dates(start, days)
        feed.command(lambda p: p.add_phase(phase_id, phase_id.upper(), starts_on=starts_on, ends_on=ends_on,
                                           budget_centi=100, position=min(position, len(p.phases))))
    elif kind == "phase_dates" and op[1] in feed.project.phases:
        starts_on, ends_on = _dates(op[2], op[3])
        feed.command(lambda p: p.update_phase(op[1], {"starts_on": starts_on, "ends_on": ends_on}))
    elif kind == "phase_order" and op[1] in feed.project.phases:
        feed.command(lambda p: p.update_phase(op[1], {"position": min(op[2], len(p.phases) - 1)}))
    elif kind == "task":
        _, task_id, phase_id = op
        if phase_id is not None and phase_id not in feed.project.phases:
            phase_id = None
        if task_id in feed.project.tasks:
            feed.command(lambda p: p.update_task(task_id, {"phase_id": phase_id}))
        else:
            feed.command(lambda p: p.add_task(task_id, task_id.upper(), phase_id=phase_id))


def _nonzero(by_phase):
    return {k: v for k, v in by_phase.items() if v != fc.Actual()}


@settings(max_examples=150, deadline=None)
@given(st.lists(OPERATIONS, min_size=6, max_size=30))
def test_the_actuals_as_of_every_event_are_the_forecast_of_the_entries(operations):
    feed = Feed()
    for i, client_id in enumerate(CLIENTS):
        feed(project_events, "ClientCreated", dict(client_id=client_id, name=f"C{i}", org_number=None,
                                                   currency="NOK", default_rate=["10.00", None][i],
                                                   contact_email=None))
    feed.command(lambda p: p.create(name="Harbour", code="HB", manager_id="m", budget_centi=1000,
                                    budget_amount="5000.00", client_id=CLIENTS[0]))
    logged = {}
    for op in operations:
        apply(feed, op, logged)

    def check(db):
        for position in range(1, feed.position + 1):
            project = feed.project_as_of(position)
            rates = rate_histories(db, P, project.client_id, as_of=position)
            facts = facts_of(project, project_facts(db, P, as_of=position), rates)
            got = actuals(db, P, as_of=position)
            assert _nonzero(got) == _nonzero(fc.actuals(facts)), position
            plan = facts_of(project, project_plan(db, P, as_of=position), rates)
            assert fc.forecast(plan, TODAY, got) == fc.forecast(facts, TODAY), position
            # the budget watch: the same figures as the hours ledger's sum and the entries priced one by one
            assert used_centi(db, P, as_of=position) == db.execute(
                "SELECT COALESCE(SUM(centi), 0) FROM hours_ledger WHERE project_id = ? AND position <= ?",
                (P, position)).fetchone()[0]
            assert used_cents(db, P, as_of=position) == sum(  # every entry priced again, as of the event
                cents(a.amount) for a in fc.actuals(facts).values() if a.amount is not None)
        now = feed.project_as_of(feed.position)
        facts = facts_of(now, project_facts(db, P), rate_histories(db, P, now.client_id))
        assert _nonzero(actuals(db, P)) == _nonzero(fc.actuals(facts))

    feed.views.read(check)
