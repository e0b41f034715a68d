"""The event store contract (DESIGN.md section 4), one suite for every backend (see conftest.py).

Streams persist on a shared KurrentDB server, so every test makes its own categories and streams.
"""

import json
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import eventlet
import pytest

from shared.eventstore import ANY, NO_STREAM, NewEvent, RecordedEvent, WrongExpectedVersion

REPO = Path(__file__).resolve().parents[2]
WAIT = 20.0  # seconds: the bound on every wait for a subscription


def new_category(prefix="ct"):
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def new_stream(category=None):
    return f"{category or new_category()}-{uuid.uuid4().hex}"


def events(*types, **data):
    return [NewEvent(type=t, data={"n": i, **data}) for i, t in enumerate(types)]


def take(subscription, count, timeout=WAIT):
    """The next ``count`` events of a subscription, failing after ``timeout`` seconds."""
    received = []
    with eventlet.Timeout(timeout, TimeoutError(f"fewer than {count} events within {timeout}s")):
        while len(received) < count:
            received.append(next(subscription))
    return received


# -- append ------------------------------------------------------------------------------------
def test_append_with_no_stream_exact_version_and_any(store):
    stream = new_stream()
    first = store.append(stream, events("Opened"), NO_STREAM)
    assert store.stream_version(stream) == 0

    second = store.append(stream, events("Renamed", "Budgeted"), 0)
    assert store.stream_version(stream) == 2

    third = store.append(stream, events("Closed"), ANY)
    assert store.stream_version(stream) == 3

    recorded = store.read_stream(stream)
    assert [e.type for e in recorded] == ["Opened", "Renamed", "Budgeted", "Closed"]
    assert [e.version for e in recorded] == [0, 1, 2, 3]
    assert [e.stream for e in recorded] == [stream] * 4
    # append returns the global position of its last event; positions increase
    assert [first, second, third] == [recorded[0].position, recorded[2].position, recorded[3].position]
    assert all(a.position < b.position for a, b in zip(recorded, recorded[1:], strict=False))


def test_any_on_a_new_stream_creates_it(store):
    stream = new_stream()
    store.append(stream, events("Opened"), ANY)
    assert store.stream_version(stream) == 0


def test_no_stream_on_an_existing_stream_is_a_wrong_expected_version(store):
    stream = new_stream()
    store.append(stream, events("Opened"), NO_STREAM)
    with pytest.raises(WrongExpectedVersion) as caught:
        store.append(stream, events("OpenedAgain"), NO_STREAM)
    assert caught.value.stream == stream
    assert caught.value.actual == 0
    assert [e.type for e in store.read_stream(stream)] == ["Opened"]


def test_a_stale_version_is_a_wrong_expected_version(store):
    stream = new_stream()
    store.append(stream, events("Opened", "Renamed"), NO_STREAM)
    with pytest.raises(WrongExpectedVersion) as caught:
        store.append(stream, events("Closed"), 0)
    assert caught.value.actual == 1
    assert caught.value.expected == 0
    with pytest.raises(WrongExpectedVersion):
        store.append(stream, events("Closed"), 5)  # ahead of the stream is wrong too
    assert store.stream_version(stream) == 1


def test_an_exact_version_on_a_missing_stream_is_a_wrong_expected_version(store):
    stream = new_stream()
    with pytest.raises(WrongExpectedVersion) as caught:
        store.append(stream, events("Opened"), 0)
    assert caught.value.actual is None
    assert store.stream_version(stream) is None
    assert store.read_stream(stream) == []


def test_appending_the_same_events_again_succeeds_and_duplicates_nothing(store):
    stream = new_stream()
    opened = events("Opened", "Renamed")
    position = store.append(stream, opened, NO_STREAM)
    assert store.append(stream, opened, NO_STREAM) == position

    closed = events("Closed")
    position = store.append(stream, closed, 1)
    assert store.append(stream, closed, 1) == position

    recorded = store.read_stream(stream)
    assert [e.id for e in recorded] == [e.id for e in opened + closed]
    assert [e.version for e in recorded] == [0, 1, 2]


def test_append_rejects_no_events_and_a_stream_name_without_category(store):
    with pytest.raises(ValueError):
        store.append(new_stream(), [], NO_STREAM)
    with pytest.raises(ValueError):
        store.append("nocategory", events("Opened"), NO_STREAM)


# -- read_stream -------------------------------------------------------------------------------
def test_read_stream_from_a_version_and_with_a_limit(store):
    stream = new_stream()
    store.append(stream, events("A", "B", "C", "D", "E"), NO_STREAM)

    assert [e.version for e in store.read_stream(stream)] == [0, 1, 2, 3, 4]
    assert [e.type for e in store.read_stream(stream, from_version=2)] == ["C", "D", "E"]
    assert [e.version for e in store.read_stream(stream, from_version=1, limit=2)] == [1, 2]
    assert store.read_stream(stream, from_version=5) == []
    assert store.read_stream(new_stream()) == []
    assert store.stream_version(new_stream()) is None


# -- read_all ----------------------------------------------------------------------------------
def _interleave(store, cat_a, cat_b):
    """Appends across two categories in a known order; returns the ids in that order."""
    a1, a2, b1 = new_stream(cat_a), new_stream(cat_a), new_stream(cat_b)
    order = []
    for stream, batch, expected in [
        (a1, events("A1"), NO_STREAM),
        (b1, events("B1", "B2"), NO_STREAM),
        (a2, events("A2"), NO_STREAM),
        (a1, events("A3", "A4"), 0),
        (b1, events("B3"), 1),
    ]:
        store.append(stream, batch, expected)
        order += [(e.id, stream) for e in batch]
    return order


def test_read_all_is_in_global_order_and_filters_by_category(store):
    cat_a, cat_b = new_category(), new_category()
    start = store.head_position()
    order = _interleave(store, cat_a, cat_b)
    ours = {stream for _, stream in order}

    everything = [e for e in store.read_all(start, limit=1000) if e.stream in ours]
    assert [(e.id, e.stream) for e in everything] == order

    both = store.read_all(0, [cat_a, cat_b])
    assert [(e.id, e.stream) for e in both] == order
    assert all(a.position < b.position for a, b in zip(both, both[1:], strict=False))
    assert all(e.position > start for e in both)

    only_a = store.read_all(0, [cat_a])
    assert [e.id for e in only_a] == [i for i, stream in order if stream.startswith(cat_a + "-")]
    assert {e.category for e in only_a} == {cat_a}
    assert store.read_all(0, [new_category()]) == []


def test_read_all_pages_concatenate_to_the_whole(store):
    cat_a, cat_b = new_category(), new_category()
    _interleave(store, cat_a, cat_b)
    whole = store.read_all(0, [cat_a, cat_b], limit=1000)
    assert len(whole) == 7

    pages, after = [], 0
    while True:
        page = store.read_all(after, [cat_a, cat_b], limit=3)
        if not page:
            break
        assert len(page) <= 3
        pages.append(page)
        after = page[-1].position
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e.id for p in pages for e in p] == [e.id for e in whole]
    # strictly after: starting at an event's position leaves that event out
    assert [e.id for e in store.read_all(whole[2].position, [cat_a, cat_b])] == [e.id for e in whole[3:]]


def test_read_all_after_any_position_starts_after_it(store):
    """A caller's position need not be an event's (the feed takes any number): events strictly after it."""
    category = new_category()
    store.append(new_stream(category), events("A", "B", "C"), NO_STREAM)
    a, b, c = store.read_all(0, [category])
    between = b.position - 1  # a's position on SQLite; inside a's record on KurrentDB (no event there)
    assert a.position <= between < b.position
    assert [e.type for e in store.read_all(between, [category])] == ["B", "C"]
    assert [e.type for e in store.read_all(between, [category], limit=1)] == ["B"]
    assert [e.type for e in store.read_all(c.position + 1, [category])] == []


def test_head_position(store):
    cat_a, cat_b = new_category(), new_category()
    assert store.head_position([cat_a]) == 0
    last_a = store.append(new_stream(cat_a), events("A1", "A2"), NO_STREAM)
    last_b = store.append(new_stream(cat_b), events("B1"), NO_STREAM)

    assert store.head_position([cat_a]) == last_a
    assert store.head_position([cat_b]) == last_b
    assert store.head_position([cat_a, cat_b]) == last_b
    assert store.head_position() >= last_b
    assert store.read_all(0, [cat_a])[-1].position == last_a


# -- the envelope ------------------------------------------------------------------------------
def test_round_trip_of_the_envelope(store):
    stream = new_stream()
    sent = NewEvent(
        type="TimeLogged",
        id=str(uuid.uuid4()),
        schema_version=3,
        data={"hours": 7.5, "note": "Überstunden ✓", "tags": ["a", "b"], "billable": True, "task": None},
        metadata={"correlation_id": "c-1", "causation_id": "c-0", "actor": "ann", "command_id": "cmd-9"},
    )
    plain = NewEvent(type="Plain", data={})
    before = datetime.now(timezone.utc)
    store.append(stream, [sent, plain], NO_STREAM)
    after = datetime.now(timezone.utc)

    from_stream = store.read_stream(stream)
    from_all = store.read_all(0, [stream.split("-", 1)[0]])
    assert from_stream == from_all
    got, got_plain = from_stream
    assert (got.id, got.type, got.schema_version) == (sent.id, "TimeLogged", 3)
    assert got.data == sent.data
    assert got.metadata == sent.metadata
    assert (got_plain.id, got_plain.schema_version, got_plain.data, got_plain.metadata) == (
        plain.id,
        1,
        {},
        {},
    )
    for event in from_stream:
        assert event.recorded_at.tzinfo is not None and event.recorded_at.utcoffset() is not None
        # a server's clock may differ a little from ours
        assert before - timedelta(minutes=2) <= event.recorded_at <= after + timedelta(minutes=2)
    assert RecordedEvent.from_dict(json.loads(json.dumps(got.to_dict()))) == got


# -- subscribe ---------------------------------------------------------------------------------
def test_subscription_catches_up_then_follows_live_appends(store):
    category = new_category()
    stream = new_stream(category)
    start = store.head_position()
    before = events("Before1", "Before2")
    store.append(stream, before, NO_STREAM)
    store.append(new_stream(), events("OtherCategory"), NO_STREAM)

    subscription = store.subscribe(start, [category])
    try:
        caught_up = take(subscription, 2)
        assert [e.id for e in caught_up] == [e.id for e in before]

        live = events("Live1", "Live2")
        store.append(stream, live[:1], 1)
        store.append(stream, live[1:], 2)
        followed = take(subscription, 2)
        assert [e.id for e in followed] == [e.id for e in live]
        assert [e.version for e in caught_up + followed] == [0, 1, 2, 3]
        assert [e.position for e in caught_up + followed] == [e.position for e in store.read_stream(stream)]
    finally:
        subscription.stop()
    with eventlet.Timeout(WAIT, TimeoutError("a stopped subscription kept waiting")):
        with pytest.raises(StopIteration):
            next(subscription)


def test_subscription_after_a_position_starts_after_it(store):
    category = new_category()
    stream = new_stream(category)
    store.append(stream, events("A", "B", "C"), NO_STREAM)
    first = store.read_stream(stream)[0]

    subscription = store.subscribe(first.position, [category])
    try:
        assert [e.type for e in take(subscription, 2)] == ["B", "C"]
    finally:
        subscription.stop()


def test_subscription_after_any_position_starts_after_it(store):
    category = new_category()
    store.append(new_stream(category), events("A", "B", "C"), NO_STREAM)
    b = store.read_all(0, [category])[1]

    subscription = store.subscribe(b.position - 1, [category])
    try:
        assert [e.type for e in take(subscription, 2)] == ["B", "C"]
    finally:
        subscription.stop()


def test_an_append_can_depend_on_other_streams_staying_unchanged(store):
    stream, lock = new_stream(), new_stream()
    store.append(stream, events("Opened"), NO_STREAM, unchanged={lock: NO_STREAM})  # the lock does not exist
    store.append(lock, events("Locked"), NO_STREAM)
    with pytest.raises(WrongExpectedVersion) as caught:  # decided before the lock: refused, nothing appended
        store.append(stream, events("Logged"), 0, unchanged={lock: NO_STREAM})
    assert caught.value.stream == lock and caught.value.actual == 0
    assert [e.type for e in store.read_stream(stream)] == ["Opened"]
    store.append(stream, events("Logged"), 0, unchanged={lock: 0})  # decided on the lock as it is
    assert [e.type for e in store.read_stream(stream)] == ["Opened", "Logged"]
    assert [e.type for e in store.read_stream(lock)] == ["Locked"]  # only checked, never written


# -- two processes -----------------------------------------------------------------------------
WORKER = textwrap.dedent(
    r"""
    import warnings
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    eventlet.monkey_patch()
    import json, random, sys, time
    from shared.eventstore import NO_STREAM, NewEvent, WrongExpectedVersion, open_store

    uri, stream, count, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = open_store(uri)
    # Both read the version before "go": their first appends race for the same version, and exactly
    # one of them must be refused.
    version = store.stream_version(stream)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    appended, conflicts, first_attempt_won = [], 0, None
    for n in range(count):
        event = NewEvent(type="Counted", data={"by": label, "n": n})
        for attempt in range(10000):
            if n or attempt:
                version = store.stream_version(stream)
            try:
                store.append(stream, [event], NO_STREAM if version is None else version)
            except WrongExpectedVersion:
                conflicts += 1
                if first_attempt_won is None:
                    first_attempt_won = False
                continue
            if first_attempt_won is None:
                first_attempt_won = True
            appended.append(event.id)
            time.sleep(random.random() / 500)  # let the other process in between appends
            break
        else:
            sys.exit("gave up")
    store.close()
    print(json.dumps({"appended": appended, "conflicts": conflicts, "first_attempt_won": first_attempt_won}),
          flush=True)
    """
)


def test_two_processes_appending_with_expected_versions_lose_nothing(store, store_uri):
    stream, per_process = new_stream(), 25
    store.append(stream, events("Seeded"), NO_STREAM)  # both workers will first expect version 0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, store_uri, stream, str(per_process), label],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for label in ("left", "right")
    ]
    try:
        with eventlet.Timeout(60, TimeoutError("workers did not start")):
            assert [w.stdout.readline().strip() for w in workers] == ["ready", "ready"]
        for worker in workers:  # both are waiting: start them together
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            out, _ = worker.communicate(timeout=180)
            assert worker.returncode == 0, out
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    reported = [set(r["appended"]) for r in results]
    assert [len(r) for r in reported] == [per_process, per_process]
    assert not reported[0] & reported[1]

    # the first appends raced for version 1: exactly one won, the other was refused
    assert sorted(r["first_attempt_won"] for r in results) == [False, True]
    assert sum(r["conflicts"] for r in results) >= 1

    recorded = store.read_stream(stream)[1:]
    assert [e.version for e in recorded] == list(range(1, 2 * per_process + 1))  # one event per version
    ids = [e.id for e in recorded]
    assert len(ids) == len(set(ids))
    assert set(ids) == reported[0] | reported[1]  # every reported append is there, exactly once
