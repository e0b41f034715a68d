"""The kit's errors as a caller sees them: self-describing for any nameko caller, typed for one that imports the
kit's adapter, and pure in the domain."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shared.errors import ERRORS, RuleViolation, ValidationError
from shared.testing import issue_token, rpc_proxy, running, service_config
from tests.kit.sample import CounterService

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ["services.project.domain", "services.timesheet.domain", "services.resource.domain",
           "services.notification.domain"]


@pytest.fixture
def config(isolated_amqp_uri, tmp_path):
    return service_config(isolated_amqp_uri, tmp_path)


# A third party's caller: nameko and nothing of Chronicle's.
NAMEKO_ONLY_CALLER = textwrap.dedent("""
    import eventlet; eventlet.monkey_patch()
    import json, sys
    from nameko.exceptions import RemoteError
    from nameko.standalone.rpc import ClusterRpcProxy

    answers = []
    with ClusterRpcProxy({"AMQP_URI": sys.argv[1]}, timeout=30,
                         context_data={"authorization": f"Bearer {sys.argv[2]}"}) as rpc, \
            ClusterRpcProxy({"AMQP_URI": sys.argv[1]}, timeout=30) as anonymous:
        for call in (lambda: rpc.counter.increment(counter_id="c", by=0),
                     lambda: rpc.counter.total(counter_id="c", min_position="soon"),
                     lambda: anonymous.counter.total(counter_id="c")):
            try:
                call()
            except RemoteError as err:
                answers.append({"exc_type": err.exc_type, "value": json.loads(err.value)})
    assert not [m for m in sys.modules if m == "shared" or m.startswith(("shared.", "services."))]
    print(json.dumps(answers))
""")


def test_a_caller_with_only_nameko_reads_type_code_message_and_field_errors(config):
    token = issue_token(config, "a-third-party", "service", service=True)
    with running(config, CounterService):
        done = subprocess.run([sys.executable, "-c", NAMEKO_ONLY_CALLER, config["AMQP_URI"], token],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rule, invalid, anonymous = json.loads(done.stdout)
    assert rule == {"exc_type": "RuleViolation", "value": {
        "type": "RuleViolation", "code": "counter.not_positive", "message": "increments must be positive",
        "errors": {}}}
    assert invalid == {"exc_type": "ValidationError", "value": {
        "type": "ValidationError", "code": "validation_failed", "message": "Invalid input",
        "errors": {"min_position": ["Must be an integer."]}}}
    assert anonymous["value"]["type"] == "Unauthenticated" and anonymous["value"]["code"] == "auth.missing"


def test_a_caller_that_imports_the_kit_still_gets_the_typed_error(config):
    with running(config, CounterService), rpc_proxy(config) as rpc:
        with pytest.raises(ValidationError) as info:
            rpc.counter.total(counter_id="c", min_position="soon")
    assert (info.value.code, info.value.errors) == ("validation_failed", {"min_position": ["Must be an integer."]})
    assert str(info.value) == "Invalid input"  # what logs show is unchanged


def test_an_error_describes_itself_as_a_json_object():
    from shared.remote_errors import describe

    assert json.loads(describe(RuleViolation("the period is locked", code="timesheet.period_locked"))) == {
        "type": "RuleViolation", "code": "timesheet.period_locked", "message": "the period is locked", "errors": {}}
    for cls in ERRORS.values():
        assert json.loads(describe(cls()))["code"] == cls.code


@pytest.mark.parametrize("module", DOMAINS + ["shared.errors"])
def test_the_domain_imports_no_nameko(module):
    check = (f"import importlib, sys; importlib.import_module({module!r}); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nameko', 'kombu', 'amqp', 'eventlet')))")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
