"""shared.handling.execute on a real SQLite store: an error never follows a commit, and a decision taken on
another aggregate (``reads``) is appended only while that aggregate has not moved (issue 9, items 4 and 5)."""
import pytest
from marshmallow import Schema, fields

from shared.aggregate import Aggregate
from shared.errors import RuleViolation
from shared.events import EventRegistry, EventSchemaError
from shared.eventstore import open_store
from shared.handling import execute, load

events = EventRegistry()


@events.register("Closed")
class ClosedV1(Schema):
    through = fields.Integer(required=True)


@events.register("Noted")
class NotedV1(Schema):
    day = fields.Integer(required=True)
    tags = fields.Raw(required=True)


class Gate(Aggregate):
    """Another aggregate a decision depends on (like the period lock)."""

    category = "gate"

    def __init__(self, id):
        super().__init__(id)
        self.through = 0

    def close(self, through):
        self.record("Closed", through=through)

    def on_Closed(self, data):
        self.through = data["through"]


class Diary(Aggregate):
    category = "diary"

    def __init__(self, id):
        super().__init__(id)
        self.days = []

    def note(self, day, gate: Gate | None = None, tags=()):
        if gate is not None and day <= gate.through:
            raise RuleViolation(f"closed through {gate.through}", code="diary.closed")
        self.record("Noted", day=day, tags=tags)

    def on_Noted(self, data):
        # as read back from JSON a tuple is a list: this handler breaks on it, like a date out of range would
        if isinstance(data["tags"], list) and "boom" in data["tags"]:
            raise ValueError("year 10000 is out of range")
        self.days.append(data["day"])


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'handling.db'}")
    yield store
    store.close()


GATE = ((Gate, "g"),)


def test_a_gate_closed_between_the_decision_and_the_append_refuses_the_append(store):
    attempts = []

    def racing(diary, gate):
        attempts.append(gate.through)
        if len(attempts) == 1:  # another writer closes the gate after we read it, before we append
            execute(store, events, Gate, "g", lambda g: g.close(10))
        diary.note(5, gate)

    with pytest.raises(RuleViolation) as err:
        execute(store, events, Diary, "d", racing, reads=GATE)
    assert err.value.code == "diary.closed"
    assert attempts == [0, 10]  # decided again on the gate as it is now
    assert store.read_stream("diary-d") == []


def test_a_gate_that_does_not_move_costs_nothing(store):
    outcome = execute(store, events, Diary, "d", lambda diary, gate: diary.note(5, gate), reads=GATE)
    assert outcome.aggregate.days == [5] and outcome.aggregate.version == 0
    execute(store, events, Gate, "g", lambda g: g.close(3))
    execute(store, events, Diary, "d", lambda diary, gate: diary.note(6, gate), reads=GATE)
    assert [e.data["day"] for e in store.read_stream("diary-d")] == [5, 6]


def test_events_that_could_not_be_read_back_are_refused_before_the_append(store):
    # in memory the tags are a tuple and apply fine; stored, they are a list and apply raises
    with pytest.raises(EventSchemaError):
        execute(store, events, Diary, "d", lambda diary: diary.note(1, tags=("boom",)))
    assert store.read_stream("diary-d") == []
    execute(store, events, Diary, "d", lambda diary: diary.note(2))
    diary, _ = load(store, events, Diary, "d")  # the stream still reads
    assert diary.days == [2]


def test_nothing_after_the_append_turns_a_commit_into_an_error(store):
    def wake(position):
        raise RuntimeError("the relay could not be woken")

    outcome = execute(store, events, Diary, "d", lambda diary: diary.note(1), on_appended=wake)
    assert outcome.position == store.read_stream("diary-d")[-1].position


def test_a_precheck_runs_for_a_new_command_and_never_for_its_retry(store):
    checks = []

    def deactivated_since():  # a fact outside the aggregate: true when the command first ran, false now
        checks.append(1)
        if len(checks) > 1:
            raise RuleViolation("the resource was deactivated", code="resource.inactive")

    first = execute(store, events, Diary, "d-pre", lambda d: d.note(3), command_id="c-pre", precheck=deactivated_since)
    retry = execute(store, events, Diary, "d-pre", lambda d: d.note(3), command_id="c-pre", precheck=deactivated_since)
    assert retry.replayed and retry.position == first.position and len(checks) == 1
    with pytest.raises(RuleViolation):  # a new command is checked
        execute(store, events, Diary, "d-pre", lambda d: d.note(4), command_id="c-new", precheck=deactivated_since)
    assert load(store, events, Diary, "d-pre")[0].days == [3]
