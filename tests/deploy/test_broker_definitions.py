"""deploy/rabbitmq/definitions.json keeps up with the code: every service's broker user may bind, read and consume
the events of each source the service records (its ``sources``). A service that starts consuming another feed
without its user's permissions hangs at start in production; this fails first, without a broker."""
import json
import os
import re

import pytest

from services.notification.service import NotificationService
from services.project.service import ProjectService
from services.resource.service import ResourceService
from services.timesheet.service import TimesheetService

DEFINITIONS = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "rabbitmq", "definitions.json")
SERVICES = [ProjectService, TimesheetService, ResourceService, NotificationService]


def permissions(user):
    with open(DEFINITIONS) as f:
        [found] = [p for p in json.load(f)["permissions"] if p["user"] == user]
    return found


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_each_service_user_may_consume_every_source_it_records(service):
    granted = permissions(service.name)
    sources = service.chronicle.sources
    assert sources, f"{service.name} records no source: nothing to check"
    for source in sources:
        exchange, queue = f"{source}.events", f"evt-{source}-TimeLogged--{service.name}.on_event"
        assert re.match(granted["configure"], exchange) and re.match(granted["read"], exchange), (service.name, source)
        for right in ("configure", "write", "read"):
            assert re.match(granted[right], queue), (service.name, source, right)
    for other in {"project", "timesheet", "resource", "notification"} - set(sources) - {service.name}:
        assert not re.match(granted["read"], f"{other}.events"), f"{service.name} may read {other} but records none"
