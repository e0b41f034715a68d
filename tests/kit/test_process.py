"""shared.process.Transfer on a real SQLite store: a thing moved out of one aggregate and into another, each step
with its own command id; a refused step in is undone, a half-done move is completed by its retry, and a retry of a
done move returns its first outcome and appends nothing."""
import pytest
from marshmallow import Schema, fields

from shared.aggregate import Aggregate
from shared.errors import Conflict, RuleViolation
from shared.events import EventRegistry
from shared.eventstore import open_store
from shared.handling import execute, replayed
from shared.process import HalfDone, Step, Transfer

events = EventRegistry()


@events.register("Put")
class PutV1(Schema):
    item = fields.String(required=True)


@events.register("Taken")
class TakenV1(Schema):
    item = fields.String(required=True)


@events.register("Sealed")
class SealedV1(Schema):
    pass


class Box(Aggregate):
    category = "box"

    def __init__(self, id):
        super().__init__(id)
        self.items, self.sealed = set(), False

    def put(self, item):
        if self.sealed:
            raise RuleViolation(f"box {self.id} is sealed", code="box.sealed")
        self.record("Put", item=item)

    def take(self, item):
        if item not in self.items:
            raise RuleViolation(f"{item} is not in box {self.id}", code="box.no_such_item")
        self.record("Taken", item=item)

    def seal(self):
        self.record("Sealed")

    def on_Put(self, data):
        self.items.add(data["item"])

    def on_Taken(self, data):
        self.items.discard(data["item"])

    def on_Sealed(self, data):
        self.sealed = True


class Handle:
    """The two calls of ``ChronicleHandle`` a process uses, on a bare store."""

    def __init__(self, store):
        self.store = store

    def execute(self, cls, aggregate_id, decide, *, command_id=None, reads=()):
        return execute(self.store, events, cls, aggregate_id, decide, command_id=command_id, reads=reads)

    def replayed(self, cls, aggregate_id, command_id):
        return replayed(self.store, events, cls, aggregate_id, command_id)

    def load(self, aggregate_id):
        return Box.rebuild(aggregate_id, self.store.read_stream(f"box-{aggregate_id}"))

    def command_ids(self, aggregate_id):
        return [(e.type, e.metadata["command_id"]) for e in self.store.read_stream(f"box-{aggregate_id}")]


@pytest.fixture
def chronicle(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    handle = Handle(store)
    handle.execute(Box, "a", lambda box: box.put("pen"))
    yield handle
    store.close()


def steps(item="pen", source="a", target="b"):
    return (Step(Box, source, lambda box: box.take(item)), Step(Box, target, lambda box: box.put(item)),
            Step(Box, source, lambda box: box.put(item)))


def recover(move: Transfer):
    return move.recover(Box, ["a", "b"], is_step_out=lambda o: all(e.type == "Taken" for e in o.events),
                        is_mine=lambda o: all(e.data["item"] == "pen" for e in o.events))


def test_a_move_takes_out_then_puts_in_under_the_commands_own_id_and_its_retry_appends_nothing(chronicle):
    outcome = Transfer(chronicle, "mv-1").run(*steps())
    assert outcome.aggregate.id == "b" and chronicle.load("b").items == {"pen"} and chronicle.load("a").items == set()
    assert chronicle.command_ids("a")[-1] == ("Taken", "mv-1") and chronicle.command_ids("b") == [("Put", "mv-1")]
    head = chronicle.store.head_position()
    retry = Transfer(chronicle, "mv-1")
    first = recover(retry)
    assert first.replayed and first.aggregate.id == "b" and first.position == outcome.position
    assert chronicle.store.head_position() == head


def test_a_refused_step_in_is_undone_and_the_retry_decides_again_as_a_new_attempt(chronicle):
    chronicle.execute(Box, "b", lambda box: box.seal())
    with pytest.raises(RuleViolation) as err:
        Transfer(chronicle, "mv-2").run(*steps())
    assert err.value.code == "box.sealed"
    assert chronicle.load("a").items == {"pen"}  # put back: never lost, never in two boxes
    assert chronicle.command_ids("a")[-2:] == [("Taken", "mv-2"), ("Put", "mv-2/back")]
    retry = Transfer(chronicle, "mv-2")
    assert recover(retry) is None and retry.attempt == 2 and retry.step_id == "mv-2/2"
    with pytest.raises(RuleViolation):  # still sealed: refused and undone again, under the attempt's own ids
        retry.run(*steps())
    assert chronicle.command_ids("a")[-2:] == [("Taken", "mv-2/2"), ("Put", "mv-2/2/back")]
    third = Transfer(chronicle, "mv-2")
    assert recover(third) is None and third.attempt == 3


def test_a_move_stopped_after_its_step_out_is_completed_by_its_retry(chronicle):
    move = Transfer(chronicle, "mv-3")
    out, into, undo = steps()
    chronicle.execute(Box, "a", out.decide, command_id=move.step_id)  # the process stops here
    retry = Transfer(chronicle, "mv-3")
    half = recover(retry)
    assert isinstance(half, HalfDone) and half.aggregate_id == "a" and half.outcome.events[-1].type == "Taken"
    retry.complete(into, undo)
    assert chronicle.load("b").items == {"pen"} and chronicle.load("a").items == set()
    assert recover(Transfer(chronicle, "mv-3")).aggregate.id == "b"


def test_a_command_id_that_did_something_else_is_refused_as_reused(chronicle):
    chronicle.execute(Box, "a", lambda box: box.put("cup"), command_id="mv-4")
    with pytest.raises(Conflict) as err:
        recover(Transfer(chronicle, "mv-4"))
    assert err.value.code == "command_id.reused"


def test_without_a_command_id_nothing_is_recovered_and_no_step_carries_one(chronicle):
    move = Transfer(chronicle, None)
    assert recover(move) is None and move.step_id is None and move.undo_id is None
    move.run(*steps())
    assert chronicle.command_ids("b") == [("Put", None)]
