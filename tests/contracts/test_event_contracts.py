"""The event contracts (docs/contracts, docs/asyncapi.yaml) are generated from the producers' schemas: never
stale, never broken without a new schema version, and every example is an event its producer accepts."""
import copy

import pytest

from shared import contracts
from shared.eventstore.base import RecordedEvent


def test_the_committed_contracts_are_what_the_schemas_generate():
    assert contracts.stale() == [], "run `chronicle contracts` (make contracts) and commit the result"


def test_every_published_event_type_and_version_has_a_contract_and_a_valid_example():
    schemas = contracts.json_schemas()
    document = contracts.asyncapi(schemas)
    for service, registry in contracts.producers().items():
        for event_type, version in registry.versions():
            name = f"{service}/{event_type}.v{version}.json"
            if registry.is_internal(event_type):
                assert name not in schemas  # never published
                continue
            assert name in schemas
            message = document["components"]["messages"][f"{service}_{event_type}_v{version}"]
            [example] = message["examples"]
            envelope = example["payload"]
            assert registry.schema(event_type, version).validate(envelope["data"]) == {}  # the producer accepts it
            event = RecordedEvent.from_dict(envelope)
            assert contracts.check_events(service, [event]) == []  # and so does the published schema


def test_a_channel_per_service_exchange_with_only_published_types():
    document = contracts.asyncapi()
    assert document["asyncapi"] == "3.0.0"
    channels = {c["address"] for c in document["channels"].values()}
    assert channels == {f"{s}.events" for s in contracts.producers()}
    project = document["channels"]["projectEvents"]["messages"]
    assert "project_ProjectCreated_v1" in project and "project_ProjectCodeReserved_v1" not in project


BASE = {"a.json": {"properties": {"id": {"type": "string"}, "hours": {"type": "number"},
                                  "note": {"type": ["string", "null"]}}, "required": ["id", "hours"]}}


def changed(fn):
    new = copy.deepcopy(BASE)
    fn(new["a.json"])
    return new


@pytest.mark.parametrize("change, problem", [
    (lambda s: s["properties"].pop("hours"), "'hours' was removed or renamed"),
    (lambda s: s["properties"].update(hours={"type": "string"}), "'hours' changed type"),
    (lambda s: s["properties"].update(note={"type": "string"}), "'note' changed type"),  # null no longer allowed
    (lambda s: (s["properties"].update(code={"type": "string"}), s["required"].append("code")),
     "'code' is required now (a new required field)"),
    (lambda s: s["required"].append("note"), "'note' is required now"),
])
def test_a_breaking_change_is_named(change, problem):
    [found] = contracts.compatibility(BASE, changed(change))
    assert problem in found


def test_adding_an_optional_field_or_widening_a_type_is_allowed():
    def add(s):
        s["properties"]["task_id"] = {"type": ["string", "null"]}
        s["properties"]["hours"] = {"type": ["number", "null"]}

    assert contracts.compatibility(BASE, changed(add)) == []
    assert contracts.compatibility(BASE, {}) == ["a.json: this schema version was removed (stored events still have it)"]


def test_an_event_that_breaks_its_contract_is_reported():
    registry = contracts.producers()["timesheet"]
    envelope = contracts.example("timesheet", registry, "TimeLogged", 1)
    envelope["data"]["hours"] = "seven"
    del envelope["data"]["project_id"]
    problems = contracts.check_events("timesheet", [RecordedEvent.from_dict(envelope)])
    assert any("hours" in p for p in problems) and any("project_id" in p for p in problems)


def test_a_service_test_fails_when_a_real_service_stored_an_event_that_breaks_its_contract(amqp_uri, tmp_path):
    from services.project.service import ProjectService
    from shared.eventstore import ANY, NewEvent
    from shared.testing import running, service_config

    config = service_config(amqp_uri, tmp_path)
    with pytest.raises(AssertionError, match="ProjectCreated v1"):
        with running(config, ProjectService) as runner:
            [container] = runner.containers
            kit = next(d for d in container.dependencies if hasattr(d, "store"))
            kit.store.append("project-x", [NewEvent("ProjectCreated", {"project_id": 7})], ANY)
