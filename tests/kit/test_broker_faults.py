"""What the broker's going away does to one service: a reply or an ack that fails must not take the
container down, and a feed proxy whose connection was lost is replaced. (The whole platform through a
real broker restart: tests/reliability/test_broker_restart.py.)"""
import threading

import kombu.exceptions
import kombu.message
import pytest
from nameko.exceptions import RpcTimeout
from nameko.rpc import Responder

from shared.entrypoints import rpc
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.e2e.helpers import chronicle_of
from tests.kit.sample import CounterService, FeedOnlyWatcherService, WatcherService


@pytest.fixture
def config(isolated_amqp_uri, tmp_path):
    return service_config(isolated_amqp_uri, tmp_path)


def alive(runner):
    return [c.service_name for c in runner.containers if not c._died.ready()]


def test_a_reply_lost_to_the_broker_leaves_the_service_running(config, monkeypatch):
    send_response, lost = Responder.send_response, []

    def broker_gone_once(self, result, exc_info):
        if not lost:
            lost.append(self.message.delivery_info["routing_key"])
            raise kombu.exceptions.OperationalError("[Errno 111] ECONNREFUSED")
        return send_response(self, result, exc_info)

    monkeypatch.setattr(Responder, "send_response", broker_gone_once)
    with running(config, CounterService) as runner:
        with rpc_proxy(config, timeout=3) as rpc, pytest.raises(RpcTimeout):
            rpc.counter.increment(counter_id="c", by=5, command_id="reply-lost")  # the caller's timeout answers
        assert lost == ["counter.increment"]
        with rpc_proxy(config, timeout=5) as rpc:
            # The command was done; its retry returns the first result, and the service takes new ones.
            assert rpc.counter.increment(counter_id="c", by=5, command_id="reply-lost")["value"] == 5
            assert rpc.counter.increment(counter_id="c", by=1)["value"] == 6
        assert alive(runner) == ["counter"]


def test_an_ack_lost_to_the_broker_leaves_the_service_running(config, monkeypatch):
    ack, failed = kombu.message.Message.ack, []

    def broker_gone_once(self, multiple=False):
        if not failed and self.delivery_info.get("routing_key") == "CounterIncremented":
            failed.append(self.delivery_tag)
            raise ConnectionResetError(104, "Connection reset by peer")
        return ack(self, multiple)

    monkeypatch.setattr(kombu.message.Message, "ack", broker_gone_once)
    with running(config, CounterService, WatcherService) as runner, rpc_proxy(config, timeout=5) as rpc:
        rpc.counter.increment(counter_id="c", by=2)
        wait_until(lambda: failed, timeout=10, message="the watcher never acked an event")
        rpc.counter.increment(counter_id="c", by=3)
        wait_until(lambda: [r["by"] for r in rpc.watcher.seen()] == [2, 3], timeout=10)
        assert sorted(alive(runner)) == ["counter", "watcher"]


def test_a_feed_proxy_that_lost_its_connection_is_replaced_at_once(config):
    with running(config, CounterService, FeedOnlyWatcherService) as runner, rpc_proxy(config, timeout=5) as rpc:
        rpc.counter.increment(counter_id="a", by=1)
        assert rpc.feedwatcher.require_counter(counter_id="a")  # pulled through a proxy that stays open
        consumer = chronicle_of(runner, "feedwatcher").consumer
        proxy, _ = consumer._proxies["counter"]
        proxy._reply_listener.queue_consumer.connection.close()  # as a broker restart leaves it

        rpc.counter.increment(counter_id="b", by=1)
        # Not "unknown" (the source is up), and not put off for PULL_BACKOFF_SECONDS either.
        assert rpc.feedwatcher.require_counter(counter_id="b")
        assert not consumer.suspended("counter")


def test_a_feed_pull_from_a_source_that_does_not_answer_ends_at_its_timeout(isolated_amqp_uri, tmp_path):
    """The kit's feed proxies have a timeout: a command that pulls from a hung source answers from what it
    knows, before its own caller gives up."""
    config = service_config(isolated_amqp_uri, tmp_path, FEED_RPC_TIMEOUT=1.0)
    release = threading.Event()

    class HungCounterService:
        name = "counter"

        @rpc
        def events_since(self, **kwargs):
            release.wait(60)
            return {"events": [], "next_position": 0, "head": 0}

    try:
        with running(config, HungCounterService, FeedOnlyWatcherService) as runner, \
                rpc_proxy(config, timeout=10) as caller:
            assert caller.feedwatcher.require_below(counter_id="a", limit=1, fresh=True)
            assert chronicle_of(runner, "feedwatcher").consumer.suspended("counter")
            release.set()
    finally:
        release.set()
