"""KurrentDB's documented semantics that the adapter (shared/eventstore/kurrent.py) relies on, asserted
through kurrentdbclient itself, on whichever server the suite has (``kurrentdb_uri``): a real one at
``EVENTSTORE_TEST_URI`` or the protocol-level test server. Against a real server these tests check
that the test server's semantics are the real ones.
"""

import uuid

import pytest
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.events import CaughtUp
from kurrentdbclient.exceptions import NotFoundError, WrongCurrentVersionError
from kurrentdbclient.gossip import NODE_STATE_LEADER

from shared.eventstore import offhub
from shared.eventstore.kurrent import KurrentEventStore  # importing it puts gRPC on real threads

pytestmark = pytest.mark.kurrentdb
WAIT = 20.0  # seconds: the deadline of every call and subscription here


@pytest.fixture
def client(kurrentdb_uri):
    client = offhub.call(KurrentDBClient, uri=kurrentdb_uri)
    try:
        yield client
    finally:
        offhub.call(client.close)


def call(fn, *args, **kwargs):
    """One client call off the eventlet hub, as the adapter makes them."""
    return offhub.call(fn, *args, **kwargs)


def new_stream(category=None):
    return f"{category or 'sem' + uuid.uuid4().hex[:10]}-{uuid.uuid4().hex}"


def new_events(*types):
    return [NewEvent(type=t, data=b"{}") for t in types]


def append(client, stream, events, current_version):
    return call(client.append_to_stream, stream, events=events, current_version=current_version, timeout=WAIT)


def read_all(client, **kwargs):
    return call(lambda: list(client.read_all(timeout=WAIT, **kwargs)))


def test_revisions_count_from_zero_and_each_event_has_its_own_growing_position(client):
    stream = new_stream()
    last = append(client, stream, new_events("A", "B", "C"), StreamState.NO_STREAM)
    recorded = call(client.get_stream, stream, timeout=WAIT)
    assert [e.stream_position for e in recorded] == [0, 1, 2]
    assert all(e.commit_position == e.prepare_position for e in recorded)
    assert all(a.commit_position < b.commit_position for a, b in zip(recorded, recorded[1:], strict=False))
    assert last == recorded[-1].commit_position  # an append answers with the position of its last event
    assert call(client.get_current_version, stream, timeout=WAIT) == 2


def test_the_same_event_ids_again_are_idempotent_and_a_partial_retry_is_refused(client):
    stream = new_stream()
    first = new_events("A", "B")
    position = append(client, stream, first, StreamState.NO_STREAM)
    assert append(client, stream, first, StreamState.NO_STREAM) == position
    assert append(client, stream, first, StreamState.ANY) == position
    with pytest.raises(WrongCurrentVersionError):  # the first id matches, the second does not
        append(client, stream, [first[0], *new_events("C")], StreamState.NO_STREAM)
    with pytest.raises(WrongCurrentVersionError) as caught:
        append(client, stream, new_events("D"), 0)
    assert caught.value.actual_version == 1
    assert [e.id for e in call(client.get_stream, stream, timeout=WAIT)] == [e.id for e in first]


def test_a_missing_stream_is_not_found_and_has_no_version(client):
    stream = new_stream()
    with pytest.raises(NotFoundError):
        call(client.get_stream, stream, timeout=WAIT)
    assert call(client.get_current_version, stream, timeout=WAIT) is StreamState.NO_STREAM
    with pytest.raises(WrongCurrentVersionError) as caught:
        append(client, stream, new_events("A"), 0)
    assert caught.value.actual_version is StreamState.NO_STREAM


def test_all_read_forwards_from_a_position_includes_it_and_a_subscription_starts_after_it(client):
    category = "sem" + uuid.uuid4().hex[:10]
    stream = new_stream(category)
    append(client, stream, new_events("A", "B", "C"), StreamState.NO_STREAM)
    by_prefix = {"filter_include": (f"{category}-",), "filter_by_stream_name": True, "filter_by_prefix": True}
    a, b, c = read_all(client, **by_prefix)
    assert [e.type for e in read_all(client, commit_position=b.commit_position, **by_prefix)] == ["B", "C"]
    backwards = read_all(client, backwards=True, limit=2, **by_prefix)
    assert [e.type for e in backwards] == ["C", "B"]

    def first_two_after(position):
        subscription = client.subscribe_to_all(commit_position=position, timeout=WAIT, **by_prefix)
        try:
            return [next(subscription).type, next(subscription).type]
        finally:
            subscription.stop()

    assert call(first_two_after, a.commit_position) == ["B", "C"]


def test_a_catch_up_subscription_reports_caught_up_then_follows_live_appends(client):
    category = "sem" + uuid.uuid4().hex[:10]
    stream = new_stream(category)
    append(client, stream, new_events("Before"), StreamState.NO_STREAM)
    subscription = call(
        client.subscribe_to_all,
        filter_include=(f"{category}-",),
        filter_by_stream_name=True,
        filter_by_prefix=True,
        include_caught_up=True,
        timeout=WAIT,
    )
    try:
        assert call(next, subscription).type == "Before"
        assert isinstance(call(next, subscription), CaughtUp)
        append(client, stream, new_events("Live"), 0)
        assert call(next, subscription).type == "Live"
    finally:
        call(subscription.stop)


def test_default_filters_hide_system_event_types_and_prefix_filters_match_stream_names(client):
    category = "sem" + uuid.uuid4().hex[:10]
    stream = new_stream(category)
    start = call(client.get_commit_position, timeout=WAIT)
    append(client, stream, new_events("Visible", "$system-like"), StreamState.NO_STREAM)
    append(client, new_stream(category + "x"), new_events("OtherCategory"), StreamState.NO_STREAM)

    default = [e for e in read_all(client, commit_position=start or None) if e.stream_name == stream]
    assert [e.type for e in default] == ["Visible"]  # the client's default excludes types "$..."
    prefixed = read_all(client, filter_include=(f"{category}-",), filter_by_stream_name=True, filter_by_prefix=True)
    assert [e.type for e in prefixed] == ["Visible", "$system-like"]  # "<category>x-" does not match
    by_type = read_all(client, commit_position=start or None, filter_include=("Other.*",))
    assert "OtherCategory" in [e.type for e in by_type] and "Visible" not in [e.type for e in by_type]


def test_gossip_names_one_leader(client):
    members = call(client.read_gossip, timeout=WAIT)
    assert [m.state for m in members].count(NODE_STATE_LEADER) == 1


def test_discovery_reads_gossip_and_connects_to_the_leader(kurrentdb):
    uri, real = kurrentdb
    if real:
        pytest.skip("a real node may advertise another address than the one this run reaches it by")
    discover = uri.replace("kurrentdb://", "kurrentdb+discover://", 1)
    client = call(KurrentDBClient, uri=discover)  # reads gossip, picks the leader, reads $all once
    try:
        stream = new_stream()
        append(client, stream, new_events("Found"), StreamState.NO_STREAM)
        assert [e.type for e in call(client.get_stream, stream, timeout=WAIT)] == ["Found"]
    finally:
        call(client.close)


def test_the_adapter_shows_no_system_events(client, kurrentdb_uri):
    category = "sem" + uuid.uuid4().hex[:10]
    stream = new_stream(category)
    store = KurrentEventStore(kurrentdb_uri, timeout=WAIT)
    try:
        start = store.head_position()
        append(client, stream, new_events("Visible", "$system-like"), StreamState.NO_STREAM)
        assert [e.type for e in store.read_all(start) if e.stream == stream] == ["Visible"]
        assert [e.type for e in store.read_all(0, [category])] == ["Visible"]
        assert store.head_position([category]) == store.read_all(0, [category])[0].position
    finally:
        store.close()
