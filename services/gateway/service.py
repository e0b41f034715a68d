"""The HTTP gateway: the REST API under /api/v1, each route an RPC of one of the four services.

It authenticates the bearer token, turns the request into the RPC's arguments, calls on the caller's behalf and
turns the answer (or the service's error) into HTTP. It decides nothing about what a caller may do: the services
do, with the caller the gateway passes on.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re

import eventlet
from marshmallow import fields
from nameko.exceptions import RemoteError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from services.timesheet.exports import csv_cell, csv_writer
from shared import catalog, validation
from shared.errors import ChronicleError, Conflict, Unauthenticated, ValidationError

from . import feed, openapi
from .http import http, json_response, problem, routing_problem
from .routes import ROUTES, SERVICES
from .upstream import Unavailable, Upstream

log = logging.getLogger(__name__)

API = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_PAGE, MAX_PAGE = 100, 1000
HEALTH_TIMEOUT = 3.0
# each service's published event types (its feed's), from its own event registry
PUBLISHED = {service: {t for t in catalog.registry(service).types() if not catalog.registry(service).is_internal(t)}
             for service in SERVICES}

ROUTING = Map([Rule(route.path, methods=[route.method], endpoint=index) for index, route in enumerate(ROUTES)])
INTEGER = re.compile(r"\A-?[0-9]{1,20}\Z")
NUMBER = re.compile(r"\A-?[0-9]{1,20}(\.[0-9]{1,20})?\Z")
ETAG = re.compile(r'\A(W/)?"([0-9]{1,18})"\Z')


class Refused(Exception):
    """The request itself is wrong (before any service is asked): answered with ``response``."""

    def __init__(self, response: Response):
        self.response = response


class GatewayService:
    name = "gateway"
    upstream = Upstream()

    @http("GET", "/health")
    def health(self, request):
        """Each service, reachable or not: asked for its status as the gateway itself; anything it answers (even a
        refusal) means it is there."""

        def reachable(service):
            try:
                self.upstream.call(service, "status", timeout=HEALTH_TIMEOUT)
            except Unavailable:
                return False
            except (ChronicleError, RemoteError):
                pass
            return True

        self.upstream.as_gateway()
        pile = eventlet.GreenPile()
        for service in SERVICES:
            pile.spawn(reachable, service)
        states = {service: "reachable" if ok else "unreachable" for service, ok in zip(SERVICES, pile, strict=True)}
        up = all(state == "reachable" for state in states.values())
        return json_response({"status": "ok" if up else "degraded", "services": states}, 200 if up else 503)

    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi.document())

    @http("GET", API + "/events")
    def events(self, request):
        return self._answer(request, lambda identity: self._events(request))

    @http("GET", API + "/exports/hours")
    def export_hours(self, request):
        return self._answer(request, lambda identity: self._export(request))

    @http("GET", API + "/exports/hours/changes")
    def export_hours_changes(self, request):
        return self._answer(request, lambda identity: self._changes(request))

    @http("GET,POST,PUT,PATCH,DELETE", API + "/<path:path>")
    def api(self, request, path):
        try:
            index, values = ROUTING.bind("").match("/" + path, method=request.method)
        except HTTPException as exc:
            return routing_problem(exc)
        return self._answer(request, lambda identity: self._route(request, ROUTES[index], values, identity))

    # -- every authenticated request -----------------------------------------------------------------
    def _answer(self, request, handle) -> Response:
        try:
            identity = self.upstream.authenticate(request.headers.get("Authorization"))
            wait = self.upstream.retry_after(identity)
            if wait:
                return problem(429, "Too many requests", "rate_limited", f"Try again in {wait} s.",
                               headers={"Retry-After": str(wait)})
            return handle(identity)
        except Refused as refused:
            return refused.response
        except ChronicleError as exc:
            return _error(exc)
        except Unavailable as exc:
            return problem(503, "Service unavailable", "service_unavailable", str(exc), headers={"Retry-After": "5"})
        except RemoteError as exc:  # a service failed in a way it did not mean to: no trace of it leaks
            return problem(502, "Bad gateway", "upstream_failed", f"A service failed ({exc.exc_type}).")

    def _route(self, request, route, values, identity) -> Response:
        args = _arguments(request, route, values, identity)
        page = _page(request) if route.paged else None
        try:
            result = self.upstream.call(route.service, route.rpc, **args)
        except Conflict as exc:
            if route.conditional and "expected_version" in args and exc.code == "version_conflict":
                return problem(412, "Precondition failed", exc.code, exc.message)
            raise
        headers = {}
        if route.versioned and isinstance(result, dict) and isinstance(result.get("version"), int):
            headers["ETag"] = f'"{result["version"]}"'
        if page is not None and isinstance(result, list):
            result, headers["Link"] = _paged(request, result, *page)
            if not headers["Link"]:
                del headers["Link"]
        return json_response(result, 201 if route.created else 200, headers)

    def _events(self, request) -> Response:
        """Every service's feed, merged (``feed.py``): each service asked for a page from its place in the cursor
        (and for its own of the ``types``, if given)."""
        query = request.args
        _only(query, ("after", "types", "limit"))
        positions = _cursor(query.get("after"))
        limit = _limit(query.get("limit"), DEFAULT_PAGE, "limit")
        wanted = {t.strip() for t in query.get("types", "").split(",") if t.strip()}
        services = feed.asked(wanted, PUBLISHED)

        def page(service):
            types = {"types": services[service]} if services[service] else {}
            return self.upstream.call(service, "events_since", position=positions.get(service, 0), limit=limit,
                                      **types)

        pile = eventlet.GreenPile()
        for service in services:
            pile.spawn(page, service)
        events, positions, more = feed.merge(dict(zip(services, pile, strict=True)), positions, limit)
        cursor = _encode(positions)
        body = {"events": events, "next": cursor, "more": more}
        headers = {"Link": f'<{_url(request, after=cursor)}>; rel="next"'} if more else None
        return json_response(body, headers=headers)

    def _export(self, request) -> Response:
        """Streamed: read from the timesheet service a page at a time (``GATEWAY_EXPORT_PAGE`` rows), written out
        as each page arrives, so no RPC reply holds the whole export. The first page is read before answering,
        so a refusal is still a problem; a failure after that cuts the body short (and is logged)."""
        query = request.args
        _only(query, ("from", "to", "status", "format"))
        args = {name: query[key] for key, name in (("from", "from_date"), ("to", "to_date"), ("status", "status"))
                if key in query}
        form = query.get("format", "json")
        if form not in ("json", "csv"):
            raise ValidationError(errors={"format": ["Must be one of: json, csv."]})
        upstream = self.upstream

        def page(after=None):
            return upstream.call("timesheet", "export_hours", **args, limit=upstream.export_page,
                                 **({"after": after} if after else {}))

        first = page()
        if form == "json":
            return Response(_json_export(first, page), content_type="application/json")
        filename = f"hours-{args['from_date']}-{args['to_date']}.csv"
        return Response(_csv_export(first, page), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


    def _changes(self, request) -> Response:
        """The delta export (the month-end close, docs/close.md): one page of changes after ``since`` (JSON), with
        the cursor for the next call; the timesheet service bounds the page (``limit``, 1-1000 here)."""
        query = request.args
        _only(query, ("since", "limit", "status", "from", "to"))
        if "since" not in query:
            raise ValidationError(errors={"since": ["Missing data for required field (0: from the start)."]})
        args = {name: query[key] for key, name in (("since", "since"), ("status", "status"), ("from", "from_date"),
                                                   ("to", "to_date")) if key in query}
        args["limit"] = _limit(query.get("limit"), MAX_PAGE, "limit")
        return json_response(self.upstream.call("timesheet", "export_hours", **args))


# -- exports, page by page ---------------------------------------------------------------------------------
def _pages(first, fetch):
    page = first
    while True:
        yield page
        if page["next"] is None:
            return
        try:
            page = fetch(page["next"])
        except Exception:  # the status is sent already: the body ends short
            log.exception("gateway: an export failed after its first page; the answer is cut short")
            return


def _csv_export(first, fetch):
    columns = first["columns"]
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # as the service's own CSV, formula injection neutralised the same way
    writer.writerow(columns)
    for page in _pages(first, fetch):
        for row in page["rows"]:
            writer.writerow([csv_cell(row[c]) for c in columns])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def _json_export(first, fetch):
    yield f'{{"columns": {json.dumps(first["columns"])}, "rows": ['.encode()
    count = 0
    for page in _pages(first, fetch):
        for row in page["rows"]:
            yield ((", " if count else "") + json.dumps(row)).encode()
            count += 1
    yield f'], "count": {count}}}'.encode()


# -- from HTTP to the RPC's arguments ---------------------------------------------------------------------
def _arguments(request, route, values, identity) -> dict:
    if route.has_body:
        given = _json_body(request)
    else:
        given = {}
        for key in request.args:
            if route.paged and key in ("limit", "cursor"):
                continue
            name = route.renamed.get(key, key)
            given[name] = _from_query(route.schema._declared_fields.get(name), request.args.getlist(key))
    allowed = set(route.input_fields())
    unknown = {name: ["Unknown field."] for name in given if name not in allowed}
    if unknown:
        raise ValidationError(errors=unknown)
    args = dict(given, **values)
    fields_ = route.schema._declared_fields
    for name in route.caller:
        if name in fields_:
            args[name] = identity.subject
    key = request.headers.get("Idempotency-Key")
    if key is not None and route.is_command:
        args["command_id"] = key
    if route.conditional and request.headers.get("If-Match", "*") != "*":
        match = ETAG.match(request.headers["If-Match"].strip())
        if not match:
            raise Refused(problem(400, "Bad request", "validation_failed", "If-Match must be an ETag we gave.",
                                  errors={"If-Match": ["Must be an ETag like \"3\"."]}))
        args["expected_version"] = int(match.group(2))
    return args


def _from_query(field, values: list[str]):
    """A query string value as the JSON value the RPC's field expects; left as it is when it does not parse,
    so the service's own validation says what is wrong."""
    value = values[-1]
    if isinstance(field, fields.List):
        return [item for v in values for item in v.split(",") if item]
    if isinstance(field, fields.Integer) and INTEGER.match(value):
        return int(value)
    if isinstance(field, validation.Boolean) and value in ("true", "false"):
        return value == "true"
    if isinstance(field, validation.Hours) and NUMBER.match(value):
        return float(value) if "." in value else int(value)
    return value


def _json_body(request) -> dict:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Refused(_too_large())
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        # the WSGI server does not say where a chunked body ends: such a body would be read as empty
        raise Refused(problem(411, "Length required", "length_required", "Send the body with a Content-Length."))
    raw = request.get_data(cache=False)
    if not raw.strip():
        return {}
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Refused(problem(415, "Unsupported media type", "unsupported_media_type",
                              "Send the body as application/json."))
    try:
        body = json.loads(raw, parse_constant=_not_json)
    except ValueError as exc:
        raise Refused(problem(400, "Bad request", "malformed_json", f"The body is not valid JSON: {exc}")) from None
    if not isinstance(body, dict):
        raise Refused(problem(400, "Bad request", "malformed_json", "The body must be a JSON object."))
    return body


def _not_json(constant):
    raise ValueError(f"{constant} is not a JSON number")


def _too_large():
    return problem(413, "Payload too large", "payload_too_large", f"Bodies are at most {MAX_BODY_BYTES} bytes.")


def _only(query, names):
    unknown = {key: ["Unknown field."] for key in query if key not in names}
    if unknown:
        raise ValidationError(errors=unknown)


def _limit(value, default, name) -> int:
    if value is None:
        return default
    if not INTEGER.match(value) or not 1 <= int(value) <= MAX_PAGE:
        raise ValidationError(errors={name: [f"Must be an integer from 1 to {MAX_PAGE}."]})
    return int(value)


# -- pages -----------------------------------------------------------------------------------------------
def _page(request) -> tuple[int, int]:
    """(offset, limit) of a list route's page."""
    limit = _limit(request.args.get("limit"), DEFAULT_PAGE, "limit")
    cursor = request.args.get("cursor")
    offset = 0
    if cursor is not None:
        decoded = _decode(cursor, "cursor")
        if not isinstance(decoded, dict) or not isinstance(decoded.get("offset"), int) or decoded["offset"] < 0:
            raise ValidationError(errors={"cursor": ["Not a cursor this API gave."]})
        offset = decoded["offset"]
    return offset, limit


def _paged(request, items: list, offset: int, limit: int):
    """One page of a list the service gave whole, and the Link to the next page (or None)."""
    page = items[offset:offset + limit]
    if offset + limit >= len(items):
        return page, None
    return page, f'<{_url(request, cursor=_encode({"offset": offset + limit}), limit=limit)}>; rel="next"'


def _url(request, **changes) -> str:
    from urllib.parse import urlencode

    args = dict(request.args.items())
    args.update({k: str(v) for k, v in changes.items()})
    return f"{request.base_url}?{urlencode(args)}"


def _encode(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).decode()


def _decode(cursor: str, name: str):
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise ValidationError(errors={name: ["Not a cursor this API gave."]}) from None


def _cursor(after) -> dict:
    if after is None:
        return {}
    positions = _decode(after, "after")
    if not isinstance(positions, dict) or any(
            service not in SERVICES or not isinstance(p, int) or isinstance(p, bool) or p < 0
            for service, p in positions.items()):
        raise ValidationError(errors={"after": ["Not a cursor this API gave."]})
    return positions


# -- from the services' errors to HTTP ---------------------------------------------------------------------
TITLES = {400: "Invalid request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found", 409: "Conflict",
          422: "Rule violated"}


def _error(exc: ChronicleError) -> Response:
    status = exc.http_status if exc.http_status in TITLES else 502
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return problem(status, TITLES.get(status, "Bad gateway"), exc.code, exc.message, errors=exc.errors or None,
                   headers=headers)
