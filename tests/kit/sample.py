"""A tiny service built on the kit, used to test the kit itself: counters that go up."""
from marshmallow import Schema, fields

from shared.aggregate import Aggregate
from shared.entrypoints import event_handler, rpc
from shared.errors import NotFound, RuleViolation
from shared.events import EventRegistry
from shared.kit import Chronicle
from shared.projections import Projection

events = EventRegistry()


@events.register("CounterIncremented", version=2)
class CounterIncrementedV2(Schema):
    counter_id = fields.String(required=True)
    by = fields.Integer(required=True)
    note = fields.String(required=True)


@events.upcaster("CounterIncremented", from_version=1)
def counter_incremented_v1_to_v2(data):
    return {**data, "note": ""}


class Counter(Aggregate):
    category = "counter"

    def __init__(self, id):
        super().__init__(id)
        self.value = 0

    def increment(self, by, note=""):
        if by <= 0:
            raise RuleViolation("increments must be positive", code="counter.not_positive")
        self.record("CounterIncremented", counter_id=self.id, by=by, note=note)

    def on_CounterIncremented(self, data):
        self.value += data["by"]


class Totals(Projection):
    name = "totals"
    tables = ("totals",)

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS totals (counter_id TEXT PRIMARY KEY, value INTEGER, events INTEGER)")

    def on_CounterIncremented(self, db, event):
        db.execute(
            "INSERT INTO totals VALUES (?, ?, 1) ON CONFLICT(counter_id) DO UPDATE"
            " SET value = value + excluded.value, events = events + 1",
            (event.data["counter_id"], event.data["by"]),
        )


class Seen(Projection):
    """The consumer side: effects of foreign counter events, one row per source event."""

    name = "seen"
    tables = ("seen",)

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT, counter_id TEXT, by INTEGER)")

    def on_CounterIncremented(self, db, event):
        db.execute("INSERT INTO seen VALUES (?, ?, ?)", (event.id, event.data["counter_id"], event.data["by"]))


class CounterService:
    name = "counter"
    chronicle = Chronicle(categories=["counter"], events=events, projections=lambda: [Totals()])

    @rpc
    def increment(self, counter_id, by=1, note="", command_id=None):
        outcome = self.chronicle.execute(Counter, counter_id, lambda c: c.increment(by, note), command_id=command_id)
        return {"value": outcome.aggregate.value, "version": outcome.aggregate.version, "position": outcome.position}

    @rpc
    def increment_twice(self, counter_id, command_id=None):
        outcome = self.chronicle.execute(Counter, counter_id, lambda c: (c.increment(1), c.increment(1)),
                                         command_id=command_id)
        return {"value": outcome.aggregate.value, "version": outcome.aggregate.version, "position": outcome.position}

    @rpc
    def total(self, counter_id, min_position=None):
        row = self.chronicle.query(
            lambda db: db.execute("SELECT value FROM totals WHERE counter_id = ?", (counter_id,)).fetchone(),
            min_position=min_position,
        )
        if row is None:
            raise NotFound(f"counter {counter_id}", code="counter.not_found")
        return row[0]

    @rpc
    def events_since(self, **kwargs):
        return self.chronicle.events_since(**kwargs)


class WatcherService:
    """Consumes the counter service's events and records each once."""

    name = "watcher"
    chronicle = Chronicle(categories=["watch"], events=EventRegistry(), projections=lambda: [Seen()],
                          sources={"counter": ["counter"]}, registries={"counter": events})

    @event_handler("counter", "CounterIncremented")
    def on_counter_event(self, envelope):
        self.chronicle.receive("counter", envelope)

    @rpc
    def seen(self):
        self.chronicle.catch_up()
        return self.chronicle.query(lambda db: [dict(r) for r in db.execute("SELECT * FROM seen ORDER BY rowid")])

    @rpc
    def rebuild(self):
        """Let the live read model drift, then rebuild it: returns the live rows, how many events the rebuild
        applied, the drifted rows, and the rebuilt rows."""
        live = self.seen()
        with self.chronicle.kit.views.transaction() as db:  # a row no event explains
            db.execute("INSERT INTO seen VALUES ('ghost', 'ghost', 0)")
        drifted = self.chronicle.query(lambda db: [dict(r) for r in db.execute("SELECT * FROM seen ORDER BY rowid")])
        applied = self.chronicle.kit.runner.rebuild()
        return live, applied, drifted, self.chronicle.query(
            lambda db: [dict(r) for r in db.execute("SELECT * FROM seen ORDER BY rowid")])

    @rpc
    def pull(self):
        """Catch up through the counter's feed now."""
        return self.chronicle.pull("counter")


class FeedOnlyWatcherService:
    """Follows the counter service through its feed only (no AMQP handler): used to show that a
    command referring to a fact not yet received pulls the feed at once."""

    name = "feedwatcher"
    chronicle = Chronicle(categories=["feedwatch"], events=EventRegistry(), projections=lambda: [Seen()],
                          sources={"counter": ["counter"]}, registries={"counter": events})

    @rpc
    def require_counter(self, counter_id):
        return self.chronicle.ensure(
            lambda db: db.execute("SELECT COUNT(*) FROM seen WHERE counter_id = ?", (counter_id,)).fetchone()[0],
            "counter",
            RuleViolation(f"counter {counter_id} is not known here", code="counter.unknown"),
        )

    @rpc
    def require_below(self, counter_id, limit, fresh=False):
        """A rule a stale read must not pass when ``fresh``: fewer than ``limit`` increments seen."""
        return self.chronicle.ensure(
            lambda db: db.execute("SELECT COUNT(*) < ? FROM seen WHERE counter_id = ?", (limit, counter_id)).fetchone()[0],
            "counter",
            RuleViolation(f"counter {counter_id} reached {limit}", code="counter.limit"),
            fresh=fresh,
        )
