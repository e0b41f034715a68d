"""Read models on real SQLite files: an event a projection cannot take is parked after bounded retries while
the events after it go on; a retry applies it once fixed; a rebuild runs beside the live read model and swaps
only once caught up, so a failing rebuild leaves the old one serving."""
import os
import sqlite3

import pytest

from shared.eventstore import ANY, NewEvent, open_store
from shared.projections import Projection, ProjectionRunner, ViewStore
from shared.reactors import ReactorRunner
from shared.state import DurableState
from tests.kit.sample import Totals
from tests.kit.test_reactors import Recorder


def increment(store, counter_id, by=1):
    store.append(f"counter-{counter_id}", [NewEvent("CounterIncremented", {"counter_id": counter_id, "by": by,
                                                                           "note": ""}, schema_version=2)], ANY)


class Fragile(Projection):
    """Two rows per event; the second write fails for the counter ``bad`` until it is fixed."""

    name = "fragile"
    tables = ("fragile", "fragile_log")
    fixed = False

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS fragile (counter_id TEXT PRIMARY KEY, by INTEGER)")
        db.execute("CREATE TABLE IF NOT EXISTS fragile_log (counter_id TEXT)")
        db.execute("CREATE INDEX IF NOT EXISTS fragile_log_by_counter ON fragile_log (counter_id)")

    def on_CounterIncremented(self, db, event):
        db.execute("INSERT INTO fragile_log VALUES (?)", (event.data["counter_id"],))  # half of the event...
        if event.data["counter_id"] == "bad" and not self.fixed:
            raise KeyError("project_id")  # ...then it fails, like a MemberAssigned with data {}
        db.execute("INSERT INTO fragile VALUES (?, ?) ON CONFLICT(counter_id) DO UPDATE SET by = by + excluded.by",
                   (event.data["counter_id"], event.data["by"]))


def rows(views, table):
    return views.read(lambda db: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {table}")))


@pytest.fixture
def parts(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/events.db")
    return store, ViewStore(str(tmp_path / "views.db")), DurableState(str(tmp_path / "state.db"))


def test_an_event_a_projection_cannot_take_is_parked_and_the_later_events_projections_and_reactors_go_on(parts):
    store, views, state = parts
    runner = ProjectionRunner(store, views, [Fragile(), Totals()], state=state, max_attempts=3)
    recorder = Recorder()
    reactors = ReactorRunner(store, state, runner, [recorder])
    for counter_id in ("a", "bad", "c"):
        increment(store, counter_id)
    for _round in (1, 2):  # held at the bad event while it may still succeed...
        with pytest.raises(Exception, match="project_id"):
            runner.run_once()
        assert views.get_checkpoint("fragile") == 1  # ...with the good event before it committed
        assert rows(views, "fragile_log") == [("a",)]  # and nothing of the bad one: its savepoint rolled back
        assert views.get_checkpoint("totals") == 3  # the other projection is not held up
        assert state.parked() == []
    assert runner.run_once() == 1  # third round: parked, and the projection goes on past it
    assert rows(views, "fragile") == [("a", 1), ("c", 1)]
    assert rows(views, "fragile_log") == [("a",), ("c",)]  # no half-applied rows of the bad event
    assert views.get_checkpoint("fragile") == 3 and runner.position() == 3
    [parked] = state.parked()
    assert (parked["kind"], parked["name"], parked["event_type"], parked["reason"]) == (
        "projection", "fragile", "CounterIncremented", "handler_failed")
    assert parked["attempts"] == 3 and parked["position"] == 2 and "KeyError" in parked["error"]
    assert parked["envelope"]["data"]["counter_id"] == "bad"
    reactors.run_once(lambda *cause: None)  # reactors are capped at the slowest projection: not stopped
    assert recorder.seen == ["a", "bad", "c"]
    increment(store, "d")  # and later events still flow
    runner.run_once()
    assert views.get_checkpoint("fragile") == 4 and ("d", 1) in rows(views, "fragile")


def test_a_transient_error_is_retried_and_never_parked(parts):
    store, views, state = parts

    class Busy(Totals):
        name = "busy"
        tables = ("busy",)
        failures = 8  # more rounds than max_attempts

        def setup(self, db):
            db.execute("CREATE TABLE IF NOT EXISTS busy (counter_id TEXT)")

        def on_CounterIncremented(self, db, event):
            db.execute("INSERT INTO busy VALUES (?)", (event.data["counter_id"],))
            if event.data["counter_id"] == "b" and Busy.failures:
                Busy.failures -= 1
                raise sqlite3.OperationalError("database is locked")

    runner = ProjectionRunner(store, views, [Busy()], state=state, max_attempts=2)
    for counter_id in ("a", "b", "c"):
        increment(store, counter_id)
    for _ in range(8):
        with pytest.raises(sqlite3.OperationalError):
            runner.run_once()
        assert views.get_checkpoint("busy") == 0 and rows(views, "busy") == []  # the whole batch again
    runner.run_once()
    assert rows(views, "busy") == [("a",), ("b",), ("c",)] and state.parked() == []


def test_a_parked_event_is_applied_by_a_retry_once_the_projection_is_fixed(parts):
    store, views, state = parts
    fragile = Fragile()
    runner = ProjectionRunner(store, views, [fragile], state=state, max_attempts=1)
    for counter_id in ("a", "bad", "c"):
        increment(store, counter_id)
    runner.run_once()
    [parked] = state.parked()
    with pytest.raises(KeyError):  # not fixed yet: the retry fails and changes nothing
        runner.retry_parked(parked)
    assert rows(views, "fragile_log") == [("a",), ("c",)]
    fragile.fixed = True
    assert runner.retry_parked(parked) is True
    assert rows(views, "fragile") == [("a", 1), ("bad", 1), ("c", 1)]
    assert rows(views, "fragile_log") == [("a",), ("bad",), ("c",)]


def test_a_rebuild_meeting_a_bad_event_parks_it_and_swaps_in_the_rest(parts):
    store, views, state = parts
    fragile = Fragile()
    fragile.fixed = True  # the live projection took every event...
    runner = ProjectionRunner(store, views, [fragile, Totals()], state=state)
    for counter_id in ("a", "bad", "c"):
        increment(store, counter_id)
    runner.run_once()
    fragile.fixed = False  # ...and the code that rebuilds it now fails on one (the KeyError)
    runner.rebuild()
    # today's rebuild crashed on the event and left the read model empty; now it is parked and the rest served
    assert rows(views, "fragile") == [("a", 1), ("c", 1)]
    assert rows(views, "totals") == [("a", 1, 1), ("bad", 1, 1), ("c", 1, 1)]
    [parked] = state.parked()
    assert parked["name"] == "fragile" and parked["event_type"] == "CounterIncremented"
    fragile.fixed = True  # fixed: a rebuild applies it and resolves the entry
    runner.rebuild("fragile")
    assert rows(views, "fragile") == [("a", 1), ("bad", 1), ("c", 1)] and state.parked() == []


def test_a_rebuild_that_fails_leaves_the_old_read_model_serving(parts, monkeypatch, tmp_path):
    store, views, state = parts
    runner = ProjectionRunner(store, views, [Totals(), Fragile()], state=state, batch=2)
    for i in range(7):
        increment(store, f"c{i}", by=i)
    runner.run_once()
    live = {t: rows(views, t) for t in ("totals", "fragile", "fragile_log")}
    checkpoints = {p: views.get_checkpoint(p) for p in ("totals", "fragile")}
    read_all = store.read_all

    def store_goes_away(after_position=0, categories=None, limit=1000):
        if after_position >= 4:
            raise ConnectionError("event store unreachable")
        return read_all(after_position, categories, limit)

    monkeypatch.setattr(store, "read_all", store_goes_away)
    with pytest.raises(ConnectionError):
        runner.rebuild()
    # the live read model was never dropped: same rows, same checkpoints, and it still follows the store
    assert {t: rows(views, t) for t in live} == live
    assert {p: views.get_checkpoint(p) for p in checkpoints} == checkpoints
    assert [f for f in os.listdir(tmp_path) if ".rebuild-" in f] == []  # the scratch file is gone
    monkeypatch.setattr(store, "read_all", read_all)
    increment(store, "c7", by=10)
    runner.run_once()
    assert ("c7", 10, 1) in rows(views, "totals")


def test_a_rebuild_replaces_the_live_tables_with_exactly_a_fresh_replay(parts, tmp_path):
    store, views, state = parts
    runner = ProjectionRunner(store, views, [Totals(), Fragile()], state=state, batch=3)
    for i in range(10):
        increment(store, f"c{i % 4}", by=i + 1)
    runner.run_once()
    with views.transaction() as db:  # drift the live read model: a rebuild must not keep any of it
        db.execute("INSERT INTO totals VALUES ('ghost', 1, 1)")
        db.execute("DELETE FROM fragile_log WHERE rowid = 2")
    applied = runner.rebuild()
    assert applied == 20  # two projections x ten events, replayed from the store
    fresh_views = ViewStore(str(tmp_path / "fresh.db"))
    ProjectionRunner(store, fresh_views, [Totals(), Fragile()]).run_once()
    for table in ("totals", "fragile", "fragile_log"):
        assert rows(views, table) == rows(fresh_views, table)
    assert views.read(lambda db: [tuple(r) for r in db.execute("SELECT rowid, * FROM fragile_log")]) == \
        fresh_views.read(lambda db: [tuple(r) for r in db.execute("SELECT rowid, * FROM fragile_log")])
    assert views.read(lambda db: db.execute(  # the indexes came along
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'fragile_log'").fetchall()) != []
    assert views.get_checkpoint("totals") == views.get_checkpoint("fragile") == 10


def test_a_parked_event_that_a_replay_after_a_fix_applies_is_resolved_and_never_applied_twice(parts):
    store, views, state = parts
    runner = ProjectionRunner(store, views, [Fragile()], state=state, max_attempts=1)
    for counter_id in ("a", "bad", "c"):
        increment(store, counter_id)
    runner.run_once()
    [parked] = state.parked()

    class FixedFragile(Fragile):  # the fix ships with a new version: the read model is replayed on start-up
        version = 2
        fixed = True

    state.request_retry()  # an operator's retry, asked before the new version started
    fixed = ProjectionRunner(store, views, [FixedFragile()], state=state)
    fixed.run_once()
    assert state.parked() == [] and rows(views, "fragile_log") == [("a",), ("bad",), ("c",)]
    [resolved] = state.parked(include_resolved=True)
    assert resolved["id"] == parked["id"] and resolved["resolved_at"] and not resolved["retry_requested"]


class Renames(Projection):
    """A read model of another event type than the counters': it handles none of their events."""

    name = "renames"
    tables = ("renames",)

    def setup(self, db):
        db.execute("CREATE TABLE IF NOT EXISTS renames (counter_id TEXT PRIMARY KEY, name TEXT)")

    def on_CounterRenamed(self, db, event):
        db.execute("INSERT OR REPLACE INTO renames VALUES (?, ?)", (event.data["counter_id"], event.data["name"]))


def test_a_round_only_moves_the_checkpoint_of_a_read_model_that_handles_none_of_its_events(parts):
    """A service's read models each see every event of its categories, and most handle few of them: a round writes
    nothing but the checkpoint of one that handles none, and reads the checkpoints once (a SAVEPOINT and a
    checkpoint read a read model and an event were most of the statements a consumed event cost)."""
    store, views, state = parts
    runner = ProjectionRunner(store, views, [Totals(), Renames(), Fragile()], state=state)
    increment(store, "a")
    runner.run_once()
    statements = []
    views.conn.set_trace_callback(statements.append)
    increment(store, "b")
    assert runner.run_once() == 2  # totals and fragile
    views.conn.set_trace_callback(None)
    assert [views.get_checkpoint(name) for name in ("totals", "renames", "fragile")] == [2, 2, 2]
    assert rows(views, "totals") == [("a", 1, 1), ("b", 1, 1)] and rows(views, "renames") == []
    savepoints = [s for s in statements if s.startswith("SAVEPOINT")]
    assert len(savepoints) == 2  # one for each read model that applies the event, none for renames
    checkpoint_reads = [s for s in statements if s.startswith("SELECT") and "FROM checkpoints" in s]
    assert len(checkpoint_reads) == 2  # position() before the round, and one in the round for all three


def test_a_reactor_round_reads_how_far_the_read_models_are_once(parts):
    """The reactors act on what the read models show: one read of that for the round, not two for each reactor."""
    store, views, state = parts
    runner = ProjectionRunner(store, views, [Totals()], state=state)
    first, second = Recorder(), Recorder()
    second.name = "second recorder"
    reactors = ReactorRunner(store, state, runner, [first, second])
    increment(store, "a")
    runner.run_once()
    statements = []
    views.conn.set_trace_callback(statements.append)
    assert reactors.run_once(lambda *cause: None) == 2
    views.conn.set_trace_callback(None)
    assert first.seen == second.seen == ["a"]
    assert len([s for s in statements if "FROM checkpoints" in s]) == 1
    increment(store, "b")  # beyond what the read models show: the next round's
    assert reactors.run_once(lambda *cause: None) == 0 and first.seen == ["a"]
    runner.run_once()
    assert reactors.run_once(lambda *cause: None) == 2 and first.seen == second.seen == ["a", "b"]
