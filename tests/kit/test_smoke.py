from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.kit.sample import CounterService, WatcherService


def test_command_projection_relay_consumer(amqp_uri, tmp_path):
    config = service_config(amqp_uri, tmp_path)
    with running(config, CounterService, WatcherService), rpc_proxy(config) as rpc:
        out = rpc.counter.increment(counter_id="c1", by=2)
        assert out["value"] == 2 and out["position"] >= 1
        assert rpc.counter.total(counter_id="c1", min_position=out["position"]) == 2
        wait_until(lambda: len(rpc.watcher.seen()) == 1)
