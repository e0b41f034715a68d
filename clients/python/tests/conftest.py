"""The client's tests run against a running Chronicle platform, from a virtualenv without the server.

The platform is started by the server's suite (tests/client/test_python_client.py), which runs these tests with:
``AMQP_URI``, ``CHRONICLE_TOKEN`` (an admin's), ``CHRONICLE_SIGNING_KEY``.
"""
import os
import uuid

import pytest
from chronicle_client import Chronicle


def pytest_configure(config):
    missing = [k for k in ("AMQP_URI", "CHRONICLE_TOKEN", "CHRONICLE_SIGNING_KEY") if not os.environ.get(k)]
    if missing:
        raise pytest.UsageError(f"these tests need a running platform: {', '.join(missing)} not set "
                                "(tests/client/test_python_client.py runs them)")


@pytest.fixture
def chronicle():
    with Chronicle() as client:  # AMQP_URI and CHRONICLE_TOKEN from the environment
        yield client


def register(chronicle, name="Ada Lovelace") -> dict:
    return chronicle.resource.register_resource(name=name, email=f"{uuid.uuid4().hex[:8]}@example.com",
                                                weekly_capacity_hours=37.5)
