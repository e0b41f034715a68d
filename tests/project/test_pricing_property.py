"""The priced time entries stay priced at the rates in force on their dates, whatever the order of hours and rate
changes (hypothesis over random sequences): after every sequence, each entry's stored amounts equal pricing it
afresh at the rates now known, and the money ledger (figures as of an event) sums to the entries' amounts.
No I/O beyond an in-memory SQLite read model; the events are built through their owners' registries."""
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.project.events import events as project_events
from services.project.projections import TimeEntriesView, _priced
from services.resource.events import events as resource_events
from services.timesheet.events import events as timesheet_events
from shared.eventstore.base import RecordedEvent
from shared.projections import ViewStore

P, CLIENTS, PEOPLE, TASKS = "p-1", ("c-1", "c-2"), ("e-1", "e-2"), ("t-1", "t-2")
DAYS = [f"2026-03-{d:02d}" for d in range(1, 6)]
RATES = st.one_of(st.none(), st.sampled_from(["0.50", "100.00", "999.99", "1250.00"]))
DAY = st.sampled_from(DAYS)

OPERATIONS = st.one_of(
    st.tuples(st.just("log"), st.integers(0, 5), DAY, st.sampled_from([0.01, 0.25, 1, 7.5]), st.booleans(),
              st.sampled_from((None, *TASKS)), st.sampled_from(PEOPLE)),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("billing"), st.sampled_from(["project", "task", "member"]), st.integers(0, 1), RATES, DAY),
    st.tuples(st.just("client_rate"), st.sampled_from(CLIENTS), RATES, DAY),
    st.tuples(st.just("cost"), st.sampled_from(PEOPLE), RATES, DAY),
    st.tuples(st.just("member"), st.sampled_from(PEOPLE), RATES),
    st.tuples(st.just("project_rate"), RATES),
    st.tuples(st.just("move"), st.sampled_from(CLIENTS)),
)


class Feed:
    def __init__(self, views):
        self.views, self.view, self.position = views, TimeEntriesView(), 0
        with views.transaction() as db:
            self.view.setup(db)

    def __call__(self, registry, event_type, data):
        registry.validate(event_type, data)  # the owner's contract
        self.position += 1
        event = RecordedEvent(id=str(self.position), stream="s-1", version=0, position=self.position,
                              type=event_type, schema_version=registry.current_version(event_type), data=data,
                              recorded_at=datetime.now(timezone.utc), metadata={})
        with self.views.transaction() as db:
            self.view.apply(db, event)


def apply(feed, op, logged):
    kind = op[0]
    if kind == "log":
        _, n, day, hours, billable, task, person = op
        entry = dict(entry_id=f"x-{n}", employee_id=person, week="2026-W10", project_id=P, task_id=task, date=day,
                     hours=hours, billable=billable, description="")
        feed(timesheet_events, "TimeLogged", entry)
        logged[n] = entry
    elif kind == "delete" and op[1] in logged:
        entry = {k: v for k, v in logged.pop(op[1]).items() if k != "description"}
        feed(timesheet_events, "TimeEntryDeleted", {**entry, "reason": None})
    elif kind == "billing":
        _, scope, i, rate, day = op
        subject = {"project": None, "task": TASKS[i], "member": PEOPLE[i]}[scope]
        feed(project_events, "BillingRateSet", dict(project_id=P, scope=scope, subject_id=subject, rate=rate,
                                                    effective_from=day))
    elif kind == "client_rate":
        feed(project_events, "ClientRateSet", dict(client_id=op[1], rate=op[2], effective_from=op[3]))
    elif kind == "cost":
        feed(resource_events, "CostRateSet", dict(resource_id=op[1], rate=op[2], currency="NOK",
                                                  effective_from=op[3]))
    elif kind == "member":
        feed(project_events, "MemberAssigned", dict(project_id=P, project_code="HB", project_name="Harbour",
                                                    employee_id=op[1], role="member", hourly_rate=op[2]))
    elif kind == "project_rate":
        feed(project_events, "ProjectUpdated", dict(project_id=P, changes={"hourly_rate": op[1]}, previous={}))
    elif kind == "move":
        feed(project_events, "ProjectUpdated", dict(project_id=P, changes={"client_id": op[1]}, previous={}))


@settings(max_examples=150, deadline=None)
@given(st.lists(OPERATIONS, min_size=6, max_size=30))
def test_every_entry_is_priced_at_the_rates_in_force_on_its_date_whatever_the_order(operations):
    feed = Feed(ViewStore(":memory:"))
    for i, client_id in enumerate(CLIENTS):
        feed(project_events, "ClientCreated", dict(client_id=client_id, name=f"C{i}", org_number=None,
                                                   currency="NOK", default_rate=["10.00", None][i],
                                                   contact_email=None))
    feed(project_events, "ProjectCreated", dict(
        project_id=P, name="Harbour", code="HB", manager_id="m", customer=None, starts_on=None, ends_on=None,
        billable=True, budget_hours=None, budget_amount=None, currency="NOK", hourly_rate=None, client_id=CLIENTS[0]))
    logged = {}
    for op in operations:
        apply(feed, op, logged)

    def check(db):
        rows = db.execute("SELECT * FROM time_entries").fetchall()
        assert {r["entry_id"] for r in rows} == {e["entry_id"] for e in logged.values()}
        for r in rows:
            rates, billable_cents, cost_cents = _priced(db, r["project_id"], r["task_id"], r["employee_id"],
                                                        r["date"], r["centi"], bool(r["billable"]))
            assert (r["billable_cents"], r["cost_cents"], r["billing_rate"], r["cost_rate"]) == (
                billable_cents, cost_cents, rates["billing_rate"], rates["cost_rate"]), dict(r)
        actual = db.execute("SELECT COALESCE(SUM(billable_cents), 0) FROM actuals").fetchone()[0]
        assert actual == sum(r["billable_cents"] for r in rows)  # the running sums follow every repricing

    feed.views.read(check)
