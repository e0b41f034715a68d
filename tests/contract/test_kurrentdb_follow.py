"""On KurrentDB the kit follows the store's subscription: an append made outside this process (another replica's
command) wakes the relay at once instead of waiting for its poll."""
import uuid

import pytest

from shared.eventstore import open_store
from shared.eventstore.base import NO_STREAM, NewEvent
from shared.testing import running, service_config, wait_until
from tests.kit.sample import CounterService

pytestmark = [pytest.mark.e2e, pytest.mark.kurrentdb]


def test_an_append_by_another_replica_is_relayed_without_waiting_for_the_poll(kurrentdb_uri, amqp_uri, tmp_path):
    # The loops poll once an hour: only the subscription can wake the relay within the test's timeout.
    config = service_config(amqp_uri, tmp_path, EVENTSTORE_URI=kurrentdb_uri, POLL_INTERVAL=3600,
                            LEADER_RETRY_SECONDS=0.2)
    with running(config, CounterService) as runner:
        [container] = runner.containers
        kit = next(d for d in container.dependencies if d.attr_name == "chronicle")
        wait_until(lambda: kit.leadership.active.is_set(), timeout=15, message="no leader")
        relayed = kit.relay.position()  # what the relay has published so far
        other_replica = open_store(kurrentdb_uri)
        try:
            counter = str(uuid.uuid4())
            position = other_replica.append(f"counter-{counter}", [NewEvent(
                type="CounterIncremented", data={"counter_id": counter, "by": 1, "note": ""}, schema_version=2)], NO_STREAM)
        finally:
            other_replica.close()
        assert position > relayed
        wait_until(lambda: kit.relay.position() >= position, timeout=10,
                   message="the relay did not publish another replica's append before its next poll")
