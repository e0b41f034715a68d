"""Nothing forged or malformed is believed (DESIGN.md 3.9): signed envelopes, verified and schema-checked
before a consumer records them; conflicts set aside, never taken for duplicates."""
import pytest

from shared.consumer import CONFLICT, DUPLICATE, IGNORED, INVALID, RECORDED, REJECTED, Consumer, mirror_stream
from shared.eventstore import NO_STREAM, NewEvent, open_store
from shared.signing import Signer, SigningKeyMissing
from shared.state import DurableState
from shared.testing import TEST_SIGNING_KEY, dispatch, rpc_proxy, running, service_config, sign, wait_until
from tests.kit.sample import CounterService, WatcherService, events

OTHER_KEY = "another-deployment-signing-key-fedcba9876543210"


def envelope(version=0, counter_id="c1", by=1, event_id=None, **extra):
    return {
        "id": event_id or f"00000000-0000-4000-8000-{version:012d}", "stream": f"counter-{counter_id}",
        "version": version, "position": 10 + version, "type": "CounterIncremented", "schema_version": 2,
        "data": {"counter_id": counter_id, "by": by, "note": ""}, "recorded_at": "2026-12-01T10:00:00+00:00",
        "metadata": {"actor": "u1"}, **extra,
    }


# -- signatures ------------------------------------------------------------------------------
def test_a_signature_holds_only_for_the_unchanged_envelope_and_our_keys():
    signer = Signer(TEST_SIGNING_KEY)
    signed = signer.sign(envelope())
    assert signer.verify(signed)
    assert signer.verify(dict(reversed(list(signed.items()))))  # canonical: key order does not matter
    assert not signer.verify(envelope())  # unsigned
    assert not signer.verify({**signed, "data": {**signed["data"], "by": 2}})  # altered after signing
    assert not signer.verify({**signed, "version": 1})
    assert not signer.verify(Signer(OTHER_KEY).sign(envelope()))  # another key
    assert not signer.verify({**signed, "signature": "hmac-sha256=" + "0" * 64})
    assert not signer.verify("not even a dict") and not signer.verify({**signed, "signature": 7})


def test_keys_rotate_by_list_the_first_signs_every_one_verifies():
    old, new = Signer(OTHER_KEY), Signer(TEST_SIGNING_KEY)
    rotating = Signer(f"{TEST_SIGNING_KEY}, {OTHER_KEY}")
    assert rotating.verify(old.sign(envelope())) and rotating.verify(new.sign(envelope()))
    assert new.verify(rotating.sign(envelope())) and not old.verify(rotating.sign(envelope()))
    assert TEST_SIGNING_KEY not in repr(rotating) and OTHER_KEY not in repr(rotating)


def test_no_key_or_a_short_key_is_refused():
    for keys in (None, "", " , ", "short"):
        with pytest.raises(SigningKeyMissing):
            Signer(keys)


# -- the consumer, on its own ------------------------------------------------------------------------
@pytest.fixture
def consumer(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/watcher.events.db")
    state = DurableState(str(tmp_path / "watcher.state.db"))
    return Consumer("watcher", store, state, {"counter": ["counter"]}, {}, signer=Signer(TEST_SIGNING_KEY),
                    registries={"counter": events}, rpc_timeout=0.5)


def recorded(consumer, counter_id="c1"):
    return [(e.id, e.data) for e in consumer.store.read_stream(mirror_stream("watcher", f"counter-{counter_id}"))]


def test_forged_messages_are_recorded_nowhere_and_counted(consumer, caplog):
    signer = Signer(TEST_SIGNING_KEY)
    forged = [
        envelope(),  # unsigned
        {**envelope(), "signature": "hmac-sha256=" + "ab" * 32},  # wrongly signed
        Signer(OTHER_KEY).sign(envelope()),  # signed with another key
        {**signer.sign(envelope()), "data": {"counter_id": "c1", "by": 1000, "note": ""}},  # altered data
    ]
    assert [consumer.record("counter", f, routing_key="CounterIncremented") for f in forged] == [REJECTED] * 4
    assert recorded(consumer) == [] and consumer.state.parked() == []
    assert consumer.counts[REJECTED] == 4 and consumer.counts[RECORDED] == 0
    assert "routing key 'CounterIncremented'" in caplog.text and envelope()["id"] in caplog.text
    assert TEST_SIGNING_KEY not in caplog.text
    # the real event is still recorded afterwards, once
    assert consumer.record("counter", signer.sign(envelope())) == RECORDED
    assert consumer.record("counter", signer.sign(envelope())) == DUPLICATE
    assert recorded(consumer) == [(envelope()["id"], envelope()["data"])]


def test_a_real_event_replayed_on_another_sources_exchange_is_ignored(consumer):
    """The signature does not name the source: the categories do (each belongs to one service)."""
    foreign = Signer(TEST_SIGNING_KEY).sign({**envelope(), "stream": "project-p1"})
    assert consumer.record("counter", foreign) == IGNORED
    assert consumer.store.read_all(0) == [] and consumer.state.parked() == []


def test_an_event_that_does_not_match_its_producers_schema_is_parked_not_recorded(consumer):
    signer = Signer(TEST_SIGNING_KEY)
    bad = signer.sign({**envelope(), "data": {}})
    assert consumer.record("counter", bad) == INVALID
    unknown = signer.sign({**envelope(event_id="00000000-0000-4000-8000-00000000000f"), "type": "CounterStolen"})
    assert consumer.record("counter", unknown) == INVALID
    assert recorded(consumer) == []
    parked = consumer.state.parked(kind="consumer", name="counter")
    assert [(p["event_id"], p["reason"]) for p in parked] == [(bad["id"], "schema_invalid"),
                                                              (unknown["id"], "schema_invalid")]
    assert "counter_id" in parked[0]["error"] and parked[0]["envelope"]["data"] == {}
    # an old schema version is checked after upcasting: v1 has no "note", the upcaster adds it
    v1 = signer.sign({**envelope(), "schema_version": 1, "data": {"counter_id": "c1", "by": 2}})
    assert consumer.record("counter", v1) == RECORDED
    assert consumer.counts[INVALID] == 2


def test_a_different_event_at_a_recorded_version_is_a_conflict_never_a_duplicate(consumer):
    signer = Signer(TEST_SIGNING_KEY)
    first = signer.sign(envelope(by=1))
    other = signer.sign(envelope(by=5, event_id="00000000-0000-4000-8000-0000000000ff"))
    assert consumer.record("counter", first) == RECORDED
    assert consumer.record("counter", other) == CONFLICT  # the source's feed cannot be read here: stays parked
    assert recorded(consumer) == [(first["id"], first["data"])]
    [row] = consumer.state.parked(kind="consumer")
    assert (row["event_id"], row["reason"], row["stream"]) == (other["id"], "version_conflict", "counter-c1")
    assert consumer.counts[CONFLICT] == 1 and consumer.counts[DUPLICATE] == 0


# -- real services on the real broker ----------------------------------------------------------------
@pytest.fixture
def config(isolated_amqp_uri, tmp_path):
    return service_config(isolated_amqp_uri, tmp_path)


def test_a_forged_event_at_the_next_version_is_not_believed_and_the_real_one_is(config):
    """issue 9, item 1: a hand-published event at the stream's next version was recorded, and the real one
    was later dropped as a duplicate."""
    with running(config, CounterService, WatcherService) as runner, rpc_proxy(config) as rpc:
        rpc.counter.increment(counter_id="x", by=1)
        wait_until(lambda: len(rpc.watcher.seen()) == 1)
        head = rpc.counter.events_since()["events"][-1]
        forged = dict(head, id="00000000-0000-4000-8000-00000000f0f0", version=1, position=head["position"] + 1,
                      data={"counter_id": "x", "by": 1000, "note": "forged"})
        forged.pop("signature")
        dispatch(config, "counter", "CounterIncremented", forged)
        dispatch(config, "counter", "CounterIncremented", Signer(OTHER_KEY).sign(forged))
        watcher = next(c for c in runner.containers if c.service_name == "watcher")
        consumer = next(d for d in watcher.dependencies if d.attr_name == "chronicle").consumer
        wait_until(lambda: consumer.counts[REJECTED] == 2)
        rpc.counter.increment(counter_id="x", by=2)
        wait_until(lambda: len(rpc.watcher.seen()) == 2)
        seen = rpc.watcher.seen()
        assert [s["by"] for s in seen] == [1, 2]
        assert forged["id"] not in [s["event_id"] for s in seen]
        assert consumer.counts[REJECTED] == 2


def test_the_feed_serves_signed_envelopes_and_one_stream_on_request(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        for by in (1, 2, 3):
            rpc.counter.increment(counter_id="s", by=by)
        rpc.counter.increment(counter_id="t", by=9)
        signer = Signer(TEST_SIGNING_KEY)
        page = rpc.counter.events_since()["events"]
        assert len(page) == 4 and all(signer.verify(e) for e in page)
        one = rpc.counter.events_since(stream="counter-s", from_version=1)["events"]
        assert [(e["version"], e["data"]["by"]) for e in one] == [(1, 2), (2, 3)] and all(map(signer.verify, one))
        from shared.errors import ValidationError
        for bad in ({"stream": "watch-s"}, {"stream": "counter-s", "from_version": -1}, {"stream": "counter-s",
                                                                                          "position": 0}):
            with pytest.raises(ValidationError):
                rpc.counter.events_since(**bad)


def test_a_service_without_a_signing_key_refuses_to_start(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path)
    config["CHRONICLE_SIGNING_KEY"] = ""
    with pytest.raises(SigningKeyMissing):
        with running(config, CounterService):
            pass


def test_a_conflict_is_settled_by_the_sources_feed(config, tmp_path):
    """A (validly signed) event that the source never recorded arrives at a version we hold: parked as a
    conflict, the stream re-read from the source's feed, and our copy stays the source's truth."""
    with running(config, CounterService, WatcherService) as runner, rpc_proxy(config) as rpc:
        rpc.counter.increment(counter_id="k", by=1)
        rpc.counter.increment(counter_id="k", by=2)
        wait_until(lambda: len(rpc.watcher.seen()) == 2)
        head = rpc.counter.events_since(stream="counter-k")["events"][-1]
        impostor = sign(config, dict(head, id="00000000-0000-4000-8000-0000000001ff",
                                     data={"counter_id": "k", "by": 50, "note": ""}))
        dispatch(config, "counter", "CounterIncremented", impostor)
        watcher = next(c for c in runner.containers if c.service_name == "watcher")
        kit = next(d for d in watcher.dependencies if d.attr_name == "chronicle")
        wait_until(lambda: kit.consumer.counts[CONFLICT] == 1)
        [row] = kit.state.parked(kind="consumer", include_resolved=True)
        assert (row["event_id"], row["reason"]) == (impostor["id"], "version_conflict")
        assert row["resolved_at"] is not None  # the feed says the recorded event is the source's
        assert [s["by"] for s in rpc.watcher.seen()] == [1, 2]
        assert kit.consumer.retry_parked(row) is True


def test_an_invalid_event_parks_its_stream_until_a_retry_records_the_truth(config):
    """The source itself served an event its schema refuses (a producer bug): it is parked, the later events
    of its stream wait behind it, other streams go on; an operator's retry re-reads the stream."""
    store = open_store(f"sqlite:///{config['CHRONICLE_DATA_DIR']}/counter.events.db")
    store.append("counter-bad", [NewEvent("CounterIncremented", {"counter_id": "bad"}, schema_version=2)], NO_STREAM)
    store.append("counter-bad", [NewEvent("CounterIncremented", {"counter_id": "bad", "by": 1, "note": ""},
                                          schema_version=2)], 0)
    with running(config, CounterService, WatcherService) as runner, rpc_proxy(config) as rpc:
        rpc.counter.increment(counter_id="good", by=3)
        wait_until(lambda: [s["counter_id"] for s in rpc.watcher.seen()] == ["good"])
        watcher = next(c for c in runner.containers if c.service_name == "watcher")
        kit = next(d for d in watcher.dependencies if d.attr_name == "chronicle")
        wait_until(lambda: kit.state.parked(kind="consumer"))
        [row] = kit.state.parked(kind="consumer")
        assert (row["stream"], row["reason"]) == ("counter-bad", "schema_invalid")
        assert kit.consumer.retry_parked(row) is False  # still invalid: nothing recorded, still parked
        assert kit.store.read_stream(mirror_stream("watcher", "counter-bad")) == []
        assert rpc.watcher.pull() == 0  # the feed goes on past the parked stream


def test_signing_keys_come_from_config_and_the_dev_key_is_made_once(tmp_path, monkeypatch):
    from shared import config as cfg

    monkeypatch.delenv("CHRONICLE_SIGNING_KEY", raising=False)
    assert cfg.signing_keys({}) == []
    assert cfg.signing_keys({"CHRONICLE_SIGNING_KEY": f"{TEST_SIGNING_KEY},{OTHER_KEY}"}) == [TEST_SIGNING_KEY,
                                                                                           OTHER_KEY]
    assert cfg.signing_keys({"CHRONICLE_SIGNING_KEY": [TEST_SIGNING_KEY]}) == [TEST_SIGNING_KEY]  # a YAML list
    key = cfg.dev_signing_key(str(tmp_path))
    assert len(key) == 64 and cfg.dev_signing_key(str(tmp_path)) == key
    assert (tmp_path / "signing.key").stat().st_mode & 0o777 == 0o600
