"""Event contracts, generated from the producers' own marshmallow schemas, so they can never drift from the code:

- ``docs/contracts/<service>/<EventType>.v<N>.json``: a JSON Schema (2020-12) per event type and schema version,
  for the event's ``data``;
- ``docs/asyncapi.yaml``: an AsyncAPI 3 document with every service's exchange, every event type and version as a
  message (the envelope, with its ``data`` schema) and an example of each.

``chronicle contracts`` writes them; ``chronicle contracts --check`` fails when they are stale. ``compatibility``
compares the schemas now with the committed ones and names every change that needs a new schema version.

Consumers must ignore fields they do not know: a new optional field is added without a new version, so the
published schemas allow additional properties (producers never send unknown ones: marshmallow refuses them).
"""
from __future__ import annotations

import importlib
import json
import os
import uuid

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields, validate

from . import validation as v
from .catalog import CATEGORIES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRACTS_DIR = os.path.join(ROOT, "docs", "contracts")
ASYNCAPI_PATH = os.path.join(ROOT, "docs", "asyncapi.yaml")
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"

# The kit's own field types, as JSON Schema (apispec knows marshmallow's).
KIT_FIELDS = {
    # hours have at most 2 decimals; not said as multipleOf 0.01, which binary floats fail in most validators
    v.Hours: {"type": "number", "minimum": 0, "description": "hours, at most 2 decimals"},
    v.Money: {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$", "description": "a decimal amount"},
    v.IsoDate: {"type": "string", "format": "date"},
    v.IsoWeek: {"type": "string", "pattern": r"^[0-9]{4}-W[0-9]{2}$", "description": "an ISO week"},
    v.IsoDateTime: {"type": "string", "format": "date-time"},
    v.Boolean: {"type": "boolean"},
}


def producers() -> dict:
    """Each service's EventRegistry, from its own ``services/<name>/events.py``."""
    return {name: importlib.import_module(f"services.{name}.events").events for name in CATEGORIES}


def _converter():
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)  # nested schemas inline: self-contained
    spec = APISpec(title="Chronicle events", version="1", openapi_version="3.1.0", plugins=[plugin])
    plugin.converter.add_attribute_function(kit_field)
    del spec
    return plugin.converter


def kit_field(self, field, ret, **kwargs):
    for cls, schema in KIT_FIELDS.items():
        if isinstance(field, cls):
            out = {k: val for k, val in schema.items() if k not in ret or k == "type"}
            if field.allow_none and "type" in out:
                out["type"] = [out["type"], "null"]
            return out
    return {}


def _allow_additional(schema):
    if isinstance(schema, dict):
        if schema.get("additionalProperties") is False:
            del schema["additionalProperties"]
        for value in schema.values():
            _allow_additional(value)
    elif isinstance(schema, list):
        for value in schema:
            _allow_additional(value)
    return schema


def data_schema(converter, service, registry, event_type, version) -> dict:
    schema = registry.schema(event_type, version)
    body = _allow_additional(converter.schema2jsonschema(schema))
    return {"$schema": JSON_SCHEMA, "$id": f"chronicle:{service}:{event_type}:v{version}",
            "title": f"{event_type} v{version}", "description": (type(schema).__doc__ or "").strip() or None,
            "x-service": service, "x-event-type": event_type, "x-schema-version": version, **body}


def json_schemas() -> dict[str, dict]:
    """``<service>/<Type>.v<N>.json`` -> its schema."""
    converter = _converter()
    out = {}
    for service, registry in producers().items():
        for event_type, version in registry.versions():
            if registry.is_internal(event_type):
                continue
            schema = data_schema(converter, service, registry, event_type, version)
            out[f"{service}/{event_type}.v{version}.json"] = {k: val for k, val in schema.items() if val is not None}
    return out


# -- examples -------------------------------------------------------------------------------------------
def _example_value(name, field):
    for validator in getattr(field, "validators", ()):
        if isinstance(validator, validate.OneOf):
            return list(validator.choices)[0]
    by_class = (
        (v.Hours, 7.5), (v.Money, "1250.00"), (v.IsoWeek, "2026-W48"), (v.IsoDateTime, "2026-11-30T09:15:00+00:00"),
        (v.IsoDate, "2026-11-30"), ((fields.Boolean, v.Boolean), True), (fields.Integer, 1),
        ((fields.Float, fields.Number), 7.5), (fields.List, []), ((fields.Dict, fields.Mapping), {}),
    )
    for cls, value in by_class:
        if isinstance(field, cls):
            return value
    if isinstance(field, fields.Nested):
        return _example_data(field.schema)
    by_name = (
        (lambda n: n.endswith("week"), "2026-W48"),
        (lambda n: n.endswith("_at"), "2026-11-30T09:15:00+00:00"),
        (lambda n: n == "date" or n.endswith(("_on", "_date", "_from", "_until")), "2026-11-30"),
        (lambda n: n.endswith("_id") or n == "id", None),
        (lambda n: "email" in n, "ola@example.com"),
    )
    for matches, value in by_name:
        if matches(name):
            return value if value is not None else str(uuid.uuid5(uuid.NAMESPACE_URL, f"chronicle-example/{name}"))
    if isinstance(field, fields.UUID):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chronicle-example/{name}"))
    return f"example {name.replace('_', ' ')}"


def _example_data(schema):
    return {name: _example_value(name, field) for name, field in schema.fields.items() if not field.dump_only}


def example(service, registry, event_type, version) -> dict:
    """An envelope as the relay publishes it, with data the producer's own schema accepts."""
    data = _example_data(registry.schema(event_type, version))
    category = CATEGORIES[service][0]
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"chronicle-example/{event_type}/{version}")),
            "stream": f"{category}-{uuid.uuid5(uuid.NAMESPACE_URL, 'chronicle-example/stream')}", "version": 0,
            "position": 42, "type": event_type, "schema_version": version, "data": data,
            "recorded_at": "2026-11-30T09:15:00.123456+00:00",
            "metadata": {"correlation_id": "c0ffee00-0000-4000-8000-000000000001",
                         "causation_id": "c0ffee00-0000-4000-8000-000000000001", "actor": "3f1c9a52-54a4-4e0f-a7b1-"
                         "2f3b4c5d6e7f", "command_id": "client-command-1", "command": "example"}}


ENVELOPE = {
    "type": "object",
    "required": ["id", "stream", "version", "position", "type", "schema_version", "data", "recorded_at", "metadata"],
    "properties": {
        "id": {"type": "string", "description": "the event's id: deduplicate on it"},
        "stream": {"type": "string", "description": "<category>-<aggregate id>"},
        "version": {"type": "integer", "minimum": 0, "description": "the event's version in its stream, from 0"},
        "position": {"type": "integer", "minimum": 1, "description": "global position in the producer's store;"
                                                                      " the feed's cursor"},
        "type": {"type": "string"},
        "schema_version": {"type": "integer", "minimum": 1},
        "data": {"type": "object"},
        "recorded_at": {"type": "string", "format": "date-time"},
        "previous": {"type": "integer", "minimum": 0, "description": "published by the relay only: the position of"
                                                                      " the event it published before this one (0:"
                                                                      " none); with everything up to it recorded, a"
                                                                      " consumer has everything up to this one"},
        "metadata": {"type": "object", "properties": {
            "correlation_id": {"type": ["string", "null"]}, "causation_id": {"type": ["string", "null"]},
            "actor": {"type": ["string", "null"]}, "command_id": {"type": ["string", "null"]},
            "command": {"type": ["string", "null"]}}},
    },
}


def asyncapi(schemas: dict | None = None) -> dict:
    schemas = schemas if schemas is not None else json_schemas()
    channels, operations, messages, components_schemas = {}, {}, {}, {"Envelope": ENVELOPE}
    for service, registry in producers().items():
        channel = f"{service}Events"
        channel_messages = {}
        for event_type, version in registry.versions():
            if registry.is_internal(event_type):
                continue  # never published: kept in an internal stream
            key = f"{service}.{event_type}.v{version}"
            name = f"{event_type}V{version}" if (event_type, version) != (event_type, registry.current_version(
                event_type)) else event_type
            schema_name = f"{service}_{event_type}_v{version}"
            data = {k: val for k, val in schemas[f"{service}/{event_type}.v{version}.json"].items()
                    if not k.startswith("$")}
            components_schemas[schema_name] = data
            messages[key.replace(".", "_")] = {
                "name": name, "title": f"{event_type} (schema_version {version})",
                "summary": data.get("description") or f"{service}: {event_type}",
                "contentType": "application/json",
                "headers": {"type": "object", "properties": {
                    "chronicle.event_id": {"type": "string"}, "chronicle.position": {"type": "integer"}}},
                "payload": {"allOf": [{"$ref": "#/components/schemas/Envelope"}, {"type": "object", "properties": {
                    "type": {"const": event_type}, "schema_version": {"const": version},
                    "data": {"$ref": f"#/components/schemas/{schema_name}"}}}]},
                "bindings": {"amqp": {"bindingVersion": "0.3.0", "messageType": event_type}},
                "examples": [{"name": f"{event_type}-v{version}",
                              "payload": example(service, registry, event_type, version)}],
            }
            channel_messages[key.replace(".", "_")] = {"$ref": f"#/components/messages/{key.replace('.', '_')}"}
        channels[channel] = {
            "address": f"{service}.events",
            "description": f"The {service} service's events: a topic exchange, the routing key is the event type."
                           f" Missed some? Page `{service}.events_since(position=<cursor>)` over RPC.",
            "messages": channel_messages,
            "bindings": {"amqp": {"bindingVersion": "0.3.0", "is": "routingKey",
                                  "exchange": {"name": f"{service}.events", "type": "topic", "durable": True,
                                               "autoDelete": False, "vhost": "/"}}},
        }
        operations[f"publish{service.title()}Events"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"The {service} service's relay publishes each event once it is stored, with publisher"
                       " confirms (at least once: deduplicate on the envelope's id).",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in channel_messages],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Chronicle events", "version": "1",
                 "description": "Every change in Chronicle is an event. Generated from the producers' schemas by"
                                " `chronicle contracts`; do not edit by hand."},
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {"host": "127.0.0.1:5672", "protocol": "amqp",
                                 "description": "The platform's RabbitMQ (AMQP_URI)."}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components_schemas, "messages": messages},
    }


# -- files ---------------------------------------------------------------------------------------------
def rendered() -> dict[str, str]:
    """Every contract file's path (from the repository root) and its text."""
    schemas = json_schemas()
    files = {os.path.join("docs", "contracts", name): json.dumps(schema, indent=2, sort_keys=True) + "\n"
             for name, schema in schemas.items()}
    files[os.path.join("docs", "asyncapi.yaml")] = (
        "# Generated by `chronicle contracts` from the services' event schemas; do not edit by hand.\n"
        + yaml.safe_dump(asyncapi(schemas), sort_keys=False, width=110, allow_unicode=True))
    return files


def stale(root=ROOT) -> list[str]:
    """Contract files that are missing, different, or no longer generated."""
    want = rendered()
    problems = [path for path, text in want.items()
                if not os.path.exists(os.path.join(root, path)) or open(os.path.join(root, path)).read() != text]
    contracts = os.path.join(root, "docs", "contracts")
    for dirpath, _, filenames in os.walk(contracts):
        for filename in filenames:
            path = os.path.relpath(os.path.join(dirpath, filename), root)
            if path not in want:
                problems.append(path)
    return sorted(problems)


def write(root=ROOT) -> list[str]:
    files = rendered()
    contracts = os.path.join(root, "docs", "contracts")
    for dirpath, _, filenames in os.walk(contracts):
        for filename in filenames:
            if os.path.relpath(os.path.join(dirpath, filename), root) not in files:
                os.remove(os.path.join(dirpath, filename))
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    return sorted(files)


def committed(root=ROOT) -> dict[str, dict]:
    out = {}
    contracts = os.path.join(root, "docs", "contracts")
    for dirpath, _, filenames in os.walk(contracts):
        for filename in filenames:
            if filename.endswith(".json"):
                with open(os.path.join(dirpath, filename)) as f:
                    out[os.path.relpath(os.path.join(dirpath, filename), contracts)] = json.load(f)
    return out


# -- compatibility ----------------------------------------------------------------------------------------
def _types(prop) -> set:
    t = (prop or {}).get("type")
    return set(t) if isinstance(t, list) else ({t} if t else set())


def compatibility(old: dict[str, dict], new: dict[str, dict]) -> list[str]:
    """The changes from ``old`` to ``new`` contracts that break a consumer or stored events without a new schema
    version: a version removed, a field removed or renamed, a field's type narrowed or changed, a new required
    field, or an optional field made required. Adding an optional field is allowed."""
    problems = []
    for name, before in sorted(old.items()):
        after = new.get(name)
        if after is None:
            problems.append(f"{name}: this schema version was removed (stored events still have it)")
            continue
        props_before, props_after = before.get("properties", {}), after.get("properties", {})
        for field, prop in props_before.items():
            if field not in props_after:
                problems.append(f"{name}: field {field!r} was removed or renamed")
            elif _types(prop) and not _types(prop) <= _types(props_after[field]):
                problems.append(f"{name}: field {field!r} changed type from {sorted(_types(prop))} to"
                                f" {sorted(_types(props_after[field]))}")
        for field in sorted(set(after.get("required", [])) - set(before.get("required", []))):
            problems.append(f"{name}: field {field!r} is required now"
                            + ("" if field in props_before else " (a new required field)"))
    return problems


def check_events(service: str, events) -> list[str]:
    """Events (recorded) that do not match their published JSON Schema, as messages."""
    import jsonschema

    schemas = _cached_schemas()
    problems = []
    for event in events:
        schema = schemas.get(f"{service}/{event.type}.v{event.schema_version}.json")
        if schema is None:
            problems.append(f"{event.type} v{event.schema_version} ({event.id}): no published contract")
            continue
        for error in jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(
                event.data):
            problems.append(f"{event.type} v{event.schema_version} ({event.id}): {error.json_path}: {error.message}")
    return problems


_SCHEMAS = {}


def _cached_schemas():
    if not _SCHEMAS:
        _SCHEMAS.update(json_schemas())
    return _SCHEMAS
