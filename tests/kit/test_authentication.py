"""Every kit RPC verifies its caller's bearer token before the method runs; the verified caller is the actor."""
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import Forbidden, Unauthenticated
from shared.identity import bearer
from shared.testing import as_caller, issue_token, rpc_proxy, running, service_config, token_book, wait_until
from tests.kit.sample import CounterService, FeedOnlyWatcherService


@pytest.fixture(scope="module")
def platform(amqp_uri, tmp_path_factory):
    config = service_config(amqp_uri, tmp_path_factory.mktemp("auth"), TOKEN_REFRESH_SECONDS=0.5)
    with running(config, CounterService, FeedOnlyWatcherService) as runner, rpc_proxy(config) as admin:
        yield config, runner, admin


def counter_store(runner):
    [container] = [c for c in runner.containers if c.service_name == "counter"]
    return next(d for d in container.dependencies if hasattr(d, "store")).store


@pytest.mark.parametrize("context, code", [
    ({}, "auth.missing"),
    ({"authorization": "Basic dXNlcjpwYXNz"}, "auth.invalid"),
    ({"authorization": "Bearer not-a-jwt"}, "auth.invalid"),
    # a claimed caller in the context data is never believed
    ({"caller": {"token_id": "x", "subject": "root", "role": "admin"}}, "auth.missing"),
])
def test_a_call_without_a_valid_token_is_refused_and_appends_nothing(platform, context, code):
    config, runner, _ = platform
    before = counter_store(runner).head_position(["counter"])
    with ClusterRpcProxy(config, timeout=10, context_data=context) as rpc:
        with pytest.raises(Unauthenticated) as refused:
            rpc.counter.increment(counter_id="refused", by=1)
    assert refused.value.code == code
    assert counter_store(runner).head_position(["counter"]) == before


def test_a_token_signed_with_another_key_is_invalid(platform):
    config, _, _ = platform
    forged = token_book(dict(config, CHRONICLE_TOKEN_KEY="another-deployment-key-0123456789abcdef")).issue(
        "mallory", "admin")[1]
    with ClusterRpcProxy(config, timeout=10, context_data=bearer(forged)) as rpc:
        with pytest.raises(Unauthenticated) as refused:
            rpc.counter.increment(counter_id="forged", by=1)
    assert refused.value.code == "auth.invalid"


def test_the_verified_caller_is_the_recorded_actor(platform):
    config, runner, _ = platform
    with ClusterRpcProxy(config, timeout=10, context_data={**as_caller(config, "emp-7", "employee"),
                                                          "actor": "somebody-else"}) as rpc:
        rpc.counter.increment(counter_id="acted", by=1)
    [event] = counter_store(runner).read_stream("counter-acted")
    assert event.metadata["actor"] == "emp-7" and event.metadata["actor_role"] == "employee"


def test_a_revoked_token_stops_working(platform):
    config, _, _ = platform
    book = token_book(config)
    token_id, token = book.issue("emp-8", "employee")
    with ClusterRpcProxy(config, timeout=10, context_data=bearer(token)) as rpc:
        assert rpc.counter.increment(counter_id="revoked", by=1)["value"] == 1
        book.revoke(token_id)

        def refused():
            try:
                rpc.counter.increment(counter_id="revoked", by=1)
            except Unauthenticated as exc:
                return exc.code == "auth.revoked"
            return False

        wait_until(refused, timeout=10, message="the revoked token still works")


def test_the_feed_is_for_services_and_admins(platform):
    config, _, admin = platform
    assert "events" in admin.counter.events_since(position=0)
    with rpc_proxy(config, token=issue_token(config, "emp-9", "employee")) as rpc:
        with pytest.raises(Forbidden) as refused:
            rpc.counter.events_since(position=0)
    assert refused.value.code == "auth.role"
    with rpc_proxy(config, token=issue_token(config, "billing", "service", service=True)) as rpc:
        assert "events" in rpc.counter.events_since(position=0)


def test_consumers_pull_the_feed_with_their_own_service_identity(platform):
    _, _, admin = platform
    admin.counter.increment(counter_id="pulled", by=3)
    # the feed-only watcher knows the counter only by pulling the counter's feed, as the service it is
    assert admin.feedwatcher.require_counter(counter_id="pulled") == 1
