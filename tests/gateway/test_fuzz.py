"""Schemathesis against the running gateway and the four services, from the gateway's own /openapi.json, with an
admin token: no answer is a 5xx, and every answer matches the document (status, content type, body).

``make test`` runs a bounded run: the fuzzing phase, 6 cases per operation (about 300). ``make fuzz`` sets
GATEWAY_FUZZ_PHASES=examples,coverage,fuzzing and GATEWAY_FUZZ_EXAMPLES=50: thousands of cases."""
import os
import re
import subprocess
import sys
import uuid

import pytest
import requests

from services.gateway.service import GatewayService
from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.testing import issue_token, running, service_config
from tests.gateway.helpers import base_url, bearer, gateway_config

pytestmark = pytest.mark.e2e

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_generated_requests_never_get_a_5xx_and_every_answer_matches_the_document(isolated_amqp_uri, tmp_path):
    examples = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "6"))
    phases = os.environ.get("GATEWAY_FUZZ_PHASES", "fuzzing")
    config = gateway_config(service_config(isolated_amqp_uri, tmp_path / "data"), GATEWAY_RATE_LIMIT=1_000_000,
                            READ_WAIT_SECONDS=1)
    with running(config, GatewayService, ProjectService, TimesheetService, ResourceService, NotificationService):
        url = base_url(config)
        admin = issue_token(config, str(uuid.uuid4()), "admin")
        seeded = requests.post(url + "/api/v1/resources", headers=bearer(admin), timeout=30,
                               json={"name": "Fuzz Manager", "email": "fuzz@gateway.example"})
        assert seeded.status_code == 201, seeded.text
        run = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "st"), "run", url + "/openapi.json",
             "--header", f"Authorization: Bearer {admin}", "--checks", CHECKS,
             "--max-examples", str(examples), "--seed", "1", "--workers", "2", "--request-timeout", "30",
             "--phases", phases, "--suppress-health-check", "all"],
            capture_output=True, text=True, timeout=3000)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-20000:]
        generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", output).groups())
        assert generated == passed >= examples * 40, output[-5000:]  # 48 operations; a few refuse early
        print(f"schemathesis: {generated} cases, {passed} passed ({phases}, {examples} per operation)")
