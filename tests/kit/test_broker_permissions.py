"""deploy/rabbitmq/definitions.json: a broker user per service that may publish only to its own
``<service>.events`` exchange and to RPC, and with which the real services still work.

The definitions are loaded into a throw-away vhost, with their users renamed for this run (users are
node-wide) and given passwords; they are deleted afterwards. The guest user and the default vhost are
never touched."""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from urllib.parse import quote

import amqp
import pytest

from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService
from shared.errors import RuleViolation
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.conftest import RABBIT_HOST, RABBIT_PORT

DEFINITIONS = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "rabbitmq", "definitions.json")
RABBITMQCTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"

pytestmark = pytest.mark.skipif(not os.path.exists(RABBITMQCTL), reason="needs rabbitmqctl on the broker's host")


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def ctl(*args, stdin=None):
    done = subprocess.run([RABBITMQCTL, *args], input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stdout} {done.stderr}")


@pytest.fixture(scope="module")
def broker():
    """The shipped definitions in a vhost of their own: {user as shipped: (its name here, its password)}."""
    run = uuid.uuid4().hex[:8]
    vhost = f"chronicle-perms-{run}"
    with open(DEFINITIONS) as f:
        definitions = json.load(f)
    users = {u["name"]: (f"chronicle-perms-{run}-{u['name']}", uuid.uuid4().hex) for u in definitions["users"]}
    for user in definitions["users"]:
        name, password = users[user["name"]]
        user.update(name=name, password_hash=password_hash(password))
    for permission in definitions["permissions"]:
        permission.update(user=users[permission["user"]][0], vhost=vhost)
    definitions["vhosts"] = [{"name": vhost}]
    ctl("import_definitions", "--format", "json", stdin=json.dumps(definitions))  # the broker's own file access
    try:
        yield vhost, users
    finally:
        for name, _ in users.values():
            try:
                ctl("delete_user", name)
            except RuntimeError:  # pragma: no cover - best effort clean-up
                pass
        ctl("delete_vhost", vhost)


def uri(broker, user):
    vhost, users = broker
    name, password = users[user]
    return f"amqp://{quote(name, safe='')}:{password}@{RABBIT_HOST}:{RABBIT_PORT}/{quote(vhost, safe='')}"


def publish(broker, user, exchange):
    """Publish one message with confirms as ``user``: raises AccessRefused if the broker forbids it."""
    vhost, users = broker
    name, password = users[user]
    with amqp.Connection(f"{RABBIT_HOST}:{RABBIT_PORT}", userid=name, password=password, virtual_host=vhost) as conn:
        channel = conn.channel()
        channel.confirm_select()
        channel.basic_publish_confirm(amqp.Message(b"{}"), exchange=exchange, routing_key="ProjectStatusChanged")


def test_services_work_with_their_own_users_and_publish_only_on_their_own_exchange(broker, tmp_path):
    services = {"project": ProjectService, "timesheet": TimesheetService, "resource": ResourceService}
    configs = {name: service_config(uri(broker, name), tmp_path) for name in services}
    with running(configs["resource"], ResourceService), running(configs["project"], ProjectService), \
            running(configs["timesheet"], TimesheetService), \
            rpc_proxy(service_config(uri(broker, "client"), tmp_path)) as rpc:
        # the whole path: RPC, relays, event handler queues on other services' exchanges, feed pulls
        manager = rpc.resource.register_resource(name="Mona", email="mona@perms.example")
        project = rpc.project.create_project(name="Perms", code="PERMS", manager_id=manager["id"])
        rpc.project.assign_member(project_id=project["id"], employee_id=manager["id"], hourly_rate="10.00")
        rpc.timesheet.log_time(employee_id=manager["id"], project_id=project["id"], date="2030-03-04", hours=1)
        rpc.project.change_status(project_id=project["id"], status="on_hold")
        with pytest.raises(RuleViolation):  # the timesheet service saw the project's new status
            rpc.timesheet.log_time(employee_id=manager["id"], project_id=project["id"], date="2030-03-05", hours=1)
        wait_until(lambda: rpc.project.project_progress(project_id=project["id"])["logged_hours"] == 1)

    publish(broker, "project", "project.events")  # its own exchange: allowed
    for user, exchange in [("timesheet", "project.events"), ("resource", "project.events"),
                           ("notification", "project.events"), ("project", "timesheet.events"),
                           ("client", "project.events")]:
        with pytest.raises(amqp.exceptions.AccessRefused):
            publish(broker, user, exchange)
