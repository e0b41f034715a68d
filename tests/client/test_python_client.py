"""The client package's own tests (clients/python/tests), run from its virtualenv without the server, against
the real services started here."""
import os
import subprocess

from services.resource.service import ResourceService
from shared.testing import issue_token, running, service_config

from .conftest import CLIENT_DIR, client_env


def test_the_client_suite_passes_against_the_running_platform(amqp_uri, tmp_path, client_venv):
    config = service_config(amqp_uri, tmp_path)
    with running(config, ResourceService):
        result = subprocess.run(
            [os.path.join(client_venv, "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=CLIENT_DIR, env=client_env(config, CHRONICLE_TOKEN=issue_token(config)),  # an admin's
            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
