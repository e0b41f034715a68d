"""shared.reservations on a real SQLite store: a unique key held by one owner, a retry that finds its own
reservation, another owner refused, and a reservation whose owner never completed taken over after the grace
period."""
import pytest

from shared import reservations
from shared.errors import Conflict
from shared.events import EventRegistry
from shared.eventstore import open_store
from shared.handling import execute, load
from shared.reservations import GRACE_SECONDS, Reservation

events = EventRegistry()
reservations.register_events(events)


class Handle:
    """What the reservations use of a ChronicleHandle, over a store."""

    def __init__(self, store):
        self.store = store

    def load(self, aggregate_cls, aggregate_id):
        return load(self.store, events, aggregate_cls, aggregate_id)[0]

    def execute(self, aggregate_cls, aggregate_id, decide, *, command_id=None):
        return execute(self.store, events, aggregate_cls, aggregate_id, decide, command_id=command_id)


class Nickname(Reservation):
    category = "nickname"


@pytest.fixture
def chronicle(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'reservations.db'}")
    yield Handle(store)
    store.close()


def taken():
    return Conflict("that nickname is taken", code="nickname.taken")


def reserve(chronicle, owner, *, command_id, now=1000.0, holds=lambda r: False, data=None):
    return reservations.reserve(chronicle, Nickname, "ADA", owner, command_id=command_id, now=now, holds=holds,
                                taken=taken(), data=data)


def stream(chronicle):
    return [(e.type, e.data.get("owner")) for e in chronicle.store.read_stream("nickname-ADA")]


def test_a_free_key_is_reserved_for_its_owner_with_its_data(chronicle):
    held = reserve(chronicle, "alice", command_id="c1", data={"finish": "with this"})
    assert (held.owner, held.data, held.reserved_at) == ("alice", {"finish": "with this"}, 1000.0)
    assert stream(chronicle) == [("KeyReserved", "alice")]


def test_a_retried_command_returns_its_first_reservation_and_appends_nothing(chronicle):
    reserve(chronicle, "alice", command_id="c1", data={"first": True})
    again = reserve(chronicle, "alice", command_id="c1", now=5000.0, data={"first": False})
    assert again.data == {"first": True} and again.reserved_at == 1000.0
    same_owner = reserve(chronicle, "alice", command_id="c2", data={"first": False})  # the owner's other command
    assert same_owner.data == {"first": True}
    assert stream(chronicle) == [("KeyReserved", "alice")]


def test_another_owner_is_refused_while_the_holder_holds_the_key(chronicle):
    reserve(chronicle, "alice", command_id="c1")
    asked = []

    def holds(reservation):
        asked.append(reservation.owner)
        return True

    with pytest.raises(Conflict) as err:
        reserve(chronicle, "bob", command_id="c2", now=1000.0 + GRACE_SECONDS * 10, holds=holds)
    assert err.value.code == "nickname.taken" and asked == ["alice"]
    assert stream(chronicle) == [("KeyReserved", "alice")]


def test_a_holder_that_never_completed_keeps_the_key_for_the_grace_period(chronicle):
    reserve(chronicle, "alice", command_id="c1", now=1000.0)
    with pytest.raises(Conflict):
        reserve(chronicle, "bob", command_id="c2", now=1000.0 + GRACE_SECONDS - 1, holds=lambda r: False)
    assert stream(chronicle) == [("KeyReserved", "alice")]


def test_a_holder_that_never_completed_is_taken_over_after_the_grace_period(chronicle):
    reserve(chronicle, "alice", command_id="c1", now=1000.0)
    held = reserve(chronicle, "bob", command_id="c2", now=1000.0 + GRACE_SECONDS, holds=lambda r: False,
                   data={"by": "bob"})
    assert (held.owner, held.data) == ("bob", {"by": "bob"})
    assert stream(chronicle) == [("KeyReserved", "alice"), ("KeyReleased", "alice"), ("KeyReserved", "bob")]
    assert chronicle.store.read_stream("nickname-ADA")[1].data["reason"] == "stale"
    with pytest.raises(Conflict):  # alice's retry comes too late: bob holds the key now
        reserve(chronicle, "alice", command_id="c3", now=1000.0 + GRACE_SECONDS, holds=lambda r: False)


def test_a_holder_that_reserved_after_it_was_asked_about_is_in_progress(chronicle):
    """``holds`` was asked about the holder seen first; one that took the key meanwhile is never taken over."""
    reserve(chronicle, "alice", command_id="c1", now=1000.0)

    def alice_taken_over_meanwhile(reservation):
        reservations.release(chronicle, Nickname, "ADA", "alice")
        reserve(chronicle, "carol", command_id="c9", now=1.0)  # long ago, as far as the clock goes
        return False

    with pytest.raises(Conflict):
        reserve(chronicle, "bob", command_id="c2", now=1000.0 + GRACE_SECONDS, holds=alice_taken_over_meanwhile)
    assert stream(chronicle)[-1] == ("KeyReserved", "carol")


def test_a_released_key_is_free_again(chronicle):
    reserve(chronicle, "alice", command_id="c1")
    reservations.release(chronicle, Nickname, "ADA", "bob")  # not bob's: nothing
    reservations.release(chronicle, Nickname, "ADA", "alice", command_id="r1")
    assert reserve(chronicle, "bob", command_id="c2").owner == "bob"
    assert stream(chronicle) == [("KeyReserved", "alice"), ("KeyReleased", "alice"), ("KeyReserved", "bob")]
