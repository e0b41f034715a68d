"""The OpenAPI 3 document of the REST API, generated with apispec from the routes and the services' own marshmallow
argument schemas (what the document says a route takes is what the service validates)."""
from __future__ import annotations

import functools
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from shared.contracts import kit_field

from .responses import EventPage, ExportChanges, ExportPage
from .routes import ROUTES

API = "/api/v1"
PROBLEM_STATUSES = {400: "Invalid request (``errors`` maps fields to messages)", 401: "No valid bearer token",
                    403: "The caller may not do this", 404: "Not found", 409: "Conflict",
                    411: "A body without Content-Length", 413: "The body is larger than 1 MiB", 415: "The body is not application/json",
                    422: "A business rule refuses it", 429: "Too many requests (see Retry-After)",
                    503: "A service did not answer in time"}


class Problem(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())


class Health(Schema):
    status = fields.String(required=True)
    services = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


def _openapi_path(path: str) -> str:
    return API + re.sub(r"<([a-z_]+)>", r"{\1}", path)


def _parameter(converter, name, field, where) -> dict:
    schema = converter.field2property(field)
    schema.pop("default", None)
    return {"name": name, "in": where, "required": where == "path" or bool(field.required), "schema": schema}


def _problems(*statuses) -> dict:
    return {str(status): {"description": PROBLEM_STATUSES[status],
                          "content": {"application/problem+json": {"schema": "Problem"}}} for status in statuses}


def _ok(description, schema) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@functools.cache
def document() -> dict:
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)  # the RPCs' schemas inline
    spec = APISpec(title="Chronicle API", version="1", openapi_version="3.1.0", plugins=[plugin],
                   info={"description": "The REST API of Chronicle (docs/api.md). Every route except /health and "
                                        "/openapi.json takes `Authorization: Bearer <token>`."})
    plugin.converter.add_attribute_function(kit_field)
    spec.components.schema("Problem", schema=Problem)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    converter = plugin.converter
    paths: dict[str, dict] = {}
    for route in ROUTES:
        declared = route.schema._declared_fields
        parameters = [_parameter(converter, name, declared[name], "path") for name in route.path_fields]
        operation = {"operationId": f"{route.service}_{route.rpc}_{route.method.lower()}", "summary": route.summary,
                     "tags": [route.tag], "security": [{"bearer": []}]}
        inputs = route.input_fields()
        if route.has_body:
            body = Schema.from_dict({name: declared[name] for name in inputs}, name=route.schema.__name__)
            operation["requestBody"] = {"required": any(declared[n].required for n in inputs),
                                        "content": {"application/json": {"schema": body}}}
        else:
            back = {name: query for query, name in route.renamed.items()}
            parameters += [_parameter(converter, back.get(name, name), declared[name], "query") for name in inputs]
        if route.paged:
            parameters += [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            ]
        if route.is_command:
            parameters.append({"name": "Idempotency-Key", "in": "header", "schema": {"type": "string",
                               "minLength": 1, "maxLength": 200}, "description": "Retries with the same key "
                               "return the first result and change nothing (the command's command_id)."})
        if route.conditional:
            parameters.append({"name": "If-Match", "in": "header", "schema": {"type": "string"},
                               "description": "The ETag of the version changed: 412 when it is no longer current."})
        operation["parameters"] = parameters
        responses = {str(201 if route.created else 200): _ok("The service's answer", route.returns)}
        responses.update(_problems(400, 401, 403, 404, 409, 422, 429, 503))
        if route.has_body:
            responses.update(_problems(411, 413, 415))
        if route.conditional:
            responses["412"] = {"description": "The If-Match version is no longer current",
                                "content": {"application/problem+json": {"schema": "Problem"}}}
        operation["responses"] = responses
        paths.setdefault(_openapi_path(route.path), {})[route.method.lower()] = operation
    paths[API + "/events"] = {"get": {
        "operationId": "events", "summary": "Every service's events, in order, from a cursor", "tags": ["integrations"],
        "security": [{"bearer": []}],
        "parameters": [{"name": "after", "in": "query", "schema": {"type": "string"}},
                       {"name": "types", "in": "query", "schema": {"type": "string"},
                        "description": "Comma-separated event types"},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
        "responses": {"200": _ok("A page of events and the cursor after it", EventPage),
                      **_problems(400, 401, 403, 429, 503)}}}
    paths[API + "/exports/hours"] = {"get": {
        "operationId": "export_hours", "summary": "Hours for payroll and accounting, as JSON or CSV",
        "tags": ["hours"], "security": [{"bearer": []}],
        "parameters": [{"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                       {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                       {"name": "status", "in": "query", "schema": {
                           "type": "string", "enum": ["approved", "submitted", "rejected", "open", "all"]}},
                       {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}}],
        "responses": {"200": {"description": "The rows", "content": {
            "application/json": {"schema": ExportPage},
            "text/csv": {"schema": {"type": "string"}}}}, **_problems(400, 401, 403, 429, 503)}}}
    paths[API + "/exports/hours/changes"] = {"get": {
        "operationId": "export_hours_changes", "tags": ["hours"], "security": [{"bearer": []}],
        "summary": "The hours export's changes since a cursor (add, reverse, replace), a page at a time",
        "parameters": [{"name": "since", "in": "query", "required": True, "schema": {"type": "string"},
                        "description": "A previous page's next, or 0 for the start"},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                       {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                       {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                       {"name": "status", "in": "query", "schema": {
                           "type": "string", "enum": ["approved", "submitted", "rejected", "open", "all"]}}],
        "responses": {"200": _ok("A page of changes and the cursor after it", ExportChanges),
                      **_problems(400, 401, 403, 429, 503)}}}
    paths["/health"] = {"get": {"operationId": "health", "summary": "Each service, reachable or not", "tags": ["ops"],
                                "security": [],
                                "responses": {"200": _ok("Every service answers", Health),
                                              "503": _ok("Some service does not answer", Health)}}}
    for path, operations in paths.items():
        for operation in operations.values():  # the web server's own answer, before the gateway sees the request
            operation["responses"]["414"] = {"description": "The URL is longer than the server takes (8 KiB)"}
        spec.path(path=path, operations=operations)
    return spec.to_dict()
