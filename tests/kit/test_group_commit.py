"""The SQLite store under eventlet: appends that arrive together share one transaction (shared/eventstore/sqlite.py),
and each caller still gets its own outcome: its position, or its own error with nothing of it appended."""
import eventlet
import pytest

from shared.eventstore import open_store
from shared.eventstore.base import NO_STREAM, NewEvent, WrongExpectedVersion


def test_concurrent_appends_each_get_their_own_outcome(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'svc.events.db'}")
    for n in range(10):
        store.append(f"thing-{n}", [NewEvent(type="Made", data={"n": n})], NO_STREAM)

    def append(n):
        # Even streams at the right version, odd ones at a wrong one: refused alone, among the others.
        expected = 0 if n % 2 == 0 else 5
        try:
            return store.append(f"thing-{n}", [NewEvent(type="Changed", data={"n": n}),
                                               NewEvent(type="Changed", data={"n": n, "again": True})], expected)
        except WrongExpectedVersion as exc:
            return exc

    outcomes = list(eventlet.GreenPool(10).imap(append, range(10)))
    for n, outcome in enumerate(outcomes):
        events = store.read_stream(f"thing-{n}")
        if n % 2 == 0:
            assert [e.type for e in events] == ["Made", "Changed", "Changed"]
            assert outcome == events[-1].position  # the position of its own last event
        else:
            assert isinstance(outcome, WrongExpectedVersion) and [e.type for e in events] == ["Made"]
    positions = [o for o in outcomes if isinstance(o, int)]
    assert len(set(positions)) == 5


def test_an_append_that_fails_in_a_shared_transaction_leaves_the_others(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'svc.events.db'}")
    first = NewEvent(type="Made", data={}, id="fixed-id")
    store.append("thing-a", [first], NO_STREAM)

    def reuse():  # the same event id in another stream: refused
        with pytest.raises(Exception, match="already used"):
            store.append("thing-b", [NewEvent(type="Made", data={}, id="fixed-id")], NO_STREAM)

    def fresh():
        return store.append("thing-c", [NewEvent(type="Made", data={})], NO_STREAM)

    pool = eventlet.GreenPool(2)
    failing, ok = pool.spawn(reuse), pool.spawn(fresh)
    failing.wait()
    assert ok.wait() == store.read_stream("thing-c")[0].position
    assert store.read_stream("thing-b") == []
