"""The client against the running platform: typed calls, typed errors, signatures, and a subscription that
catches up after being stopped."""
import importlib.util
import json
import os
import threading
import time

import pytest
from chronicle_client import Chronicle, Subscription, Unauthenticated, ValidationError, Verifier
from chronicle_client.errors import NotFound, from_remote
from conftest import register


def wait_until(condition, timeout=20.0, message="condition not met"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message} within {timeout}s"
        time.sleep(0.05)


def test_the_server_is_not_installed_here():
    assert importlib.util.find_spec("shared") is None and importlib.util.find_spec("services") is None


def test_a_typed_call_returns_the_service_answer(chronicle):
    resource = register(chronicle, name="Grace Hopper")
    fetched = chronicle.resource.get_resource(resource_id=resource["id"])
    assert fetched["name"] == "Grace Hopper" and fetched["weekly_capacity_hours"] == 37.5


def test_refused_input_arrives_as_the_typed_error_with_its_code_and_field_errors(chronicle):
    with pytest.raises(ValidationError) as refused:
        chronicle.resource.register_resource(name="Bad hours", email="bad@example.com", weekly_capacity_hours=-1)
    assert refused.value.code == "validation_failed"
    assert list(refused.value.errors) == ["weekly_capacity_hours"]


def test_an_unknown_resource_is_not_found_with_its_code(chronicle):
    with pytest.raises(NotFound) as missing:
        chronicle.resource.get_resource(resource_id="00000000-0000-4000-8000-000000000000")
    assert missing.value.code.endswith("not_found")


def test_a_call_without_a_valid_token_is_unauthenticated(monkeypatch):
    monkeypatch.delenv("CHRONICLE_TOKEN")
    with Chronicle(token="not-a-token") as stranger, pytest.raises(Unauthenticated) as refused:
        stranger.resource.list_resources()
    assert refused.value.code == "auth.invalid"
    with Chronicle() as anonymous, pytest.raises(Unauthenticated) as refused:
        anonymous.resource.list_resources()
    assert refused.value.code == "auth.missing"


def test_both_error_forms_are_understood():
    described = json.dumps({"type": "ValidationError", "code": "validation_failed", "message": "Invalid input",
                            "errors": {"hours": ["Too many."]}})
    error = from_remote("ValidationError", described)
    assert (type(error), error.code, error.message, error.errors) == (
        ValidationError, "validation_failed", "Invalid input", {"hours": ["Too many."]})
    old = from_remote("NotFound", "project 42 not found")
    assert (type(old), old.code, old.message) == (NotFound, "not_found", "project 42 not found")
    assert from_remote("KeyError", "'x'") is None  # a fault, not a refusal: the RemoteError stays


def test_the_feed_is_signed_and_a_forged_event_is_rejected(chronicle):
    register(chronicle)
    verifier = Verifier()  # CHRONICLE_SIGNING_KEY
    event = chronicle.resource.events_since(position=0, limit=1)["events"][0]
    assert verifier.verify(event)
    assert not verifier.verify({**event, "data": {**event["data"], "name": "Mallory"}})
    assert not verifier.verify({k: v for k, v in event.items() if k != "signature"})
    assert not Verifier("another-deployment-key-0123456789abcdef").verify(event)
    assert Verifier(f"a-new-key-0123456789abcdef0123456789, {os.environ['CHRONICLE_SIGNING_KEY']}").verify(event)


def test_a_subscription_catches_up_after_being_stopped_and_handles_each_event_once(chronicle, tmp_path):
    seen, lock = [], threading.Lock()

    def on_registered(event):
        with lock:
            seen.append(event.data["resource_id"])

    def subscription():
        return Subscription("resource", on_registered, types=["ResourceRegistered"], cursor=str(tmp_path / "c.db"),
                            catch_up_every=1.0)

    before = register(chronicle, "Before")["id"]  # published before anyone listened: the feed has it
    live = subscription().start()
    wait_until(lambda: before in seen, message="the catch-up")
    during = register(chronicle, "Live")["id"]
    wait_until(lambda: during in seen, message="the live event")
    live.close()

    offline = [register(chronicle, f"Offline {i}")["id"] for i in range(3)]  # nobody listens
    chronicle.resource.update_resource(resource_id=during, name="Renamed")  # another type: not handled
    again = subscription().start()
    try:
        wait_until(lambda: set(offline) <= set(seen), message="the catch-up after the restart")
        after = register(chronicle, "After")["id"]
        wait_until(lambda: after in seen, message="the live event after the restart")
        assert again.counts["rejected"] == 0
    finally:
        again.close()
    mine = [rid for rid in seen if rid in {before, during, after, *offline}]
    assert sorted(mine) == sorted({before, during, after, *offline})  # each once


def test_a_forged_live_event_is_not_handled(chronicle, tmp_path):
    handled = []
    subscription = Subscription("resource", handled.append, cursor=str(tmp_path / "c.db"))
    register(chronicle)
    subscription.catch_up()
    genuine = chronicle.resource.events_since(position=0, limit=1)["events"][0]
    forged = {**genuine, "id": "00000000-0000-4000-8000-00000000dead", "position": 10**9,
              "data": {**genuine["data"], "name": "Mallory"}}
    assert subscription.receive(forged) is False
    assert subscription.counts["rejected"] == 1 and all(e.data.get("name") != "Mallory" for e in handled)


def test_the_feed_filters_by_type_and_moves_past_the_rest(chronicle):
    resource = register(chronicle)
    updated = chronicle.resource.update_resource(resource_id=resource["id"], name="Renamed")
    page = chronicle.resource.events_since(position=resource["position"] - 1, limit=10, types=["ResourceUpdated"])
    assert [e["type"] for e in page["events"]] == ["ResourceUpdated"]
    assert page["next_position"] >= updated["position"]


def test_a_subscription_to_a_type_the_service_does_not_have_is_refused(tmp_path):
    subscription = Subscription("resource", print, types=["TimesheetApproved"], cursor=str(tmp_path / "c.db"))
    with pytest.raises(ValidationError) as refused:
        subscription.catch_up()
    assert "types" in refused.value.errors


def test_an_event_handled_live_is_not_handled_again_by_the_catch_up(chronicle, tmp_path):
    handled = []
    subscription = Subscription("resource", handled.append, types=["ResourceRegistered"],
                                cursor=str(tmp_path / "c.db"))
    subscription.catch_up()
    resource = register(chronicle)
    envelope = next(e for e in chronicle.resource.events_since(position=resource["position"] - 1, limit=10)["events"]
                    if e["type"] == "ResourceRegistered")
    assert subscription.receive(envelope) is True
    assert subscription.receive(envelope) is False  # delivered twice
    assert subscription.catch_up() == 0  # the feed has it too
    assert [e.id for e in handled if e.data["resource_id"] == resource["id"]] == [envelope["id"]]
    assert subscription.counts["duplicate"] == 2


def test_a_service_without_the_type_filter_is_filtered_here(tmp_path):
    class OlderFeed:  # a service from before events_since(types=)
        def events_since(self, *, position, limit, types=None):
            if types is not None:
                raise ValidationError(errors={"types": ["Unknown field."]})
            return {"events": [], "next_position": position, "head": position}

    subscription = Subscription("resource", print, types=["ResourceRegistered"], cursor=str(tmp_path / "c.db"))
    assert subscription._page(OlderFeed(), 0)["events"] == [] and subscription._feed_filters is False
