"""Hostile arguments for every RPC of the four services (issue 9, item 4; DESIGN.md guarantee 7).

Hypothesis draws keyword arguments for each RPC from its own argument schema, mixing valid values (ids that
exist, dates in the range) with boundary and hostile ones (9999-12-31, 9999-W53, NUL, U+202E, floats as
strings, booleans as integers, nested dicts, unknown keys), and calls the real services over real RabbitMQ.
It must hold, for every call:
- the answer is a result or one of the declared errors (ValidationError, NotFound, Conflict, RuleViolation,
  Forbidden) with a code: a RemoteError of another type, or a timeout, fails;
- arguments no service may accept (unknown keys, dates and weeks outside the system's range, a position that
  is not an integer, text with NUL or U+202E) get a ValidationError with field errors;
- a refused call appended nothing: no event of the called RPC after the call in the service's store.
Prints the cases tried per RPC and in total.
"""
from __future__ import annotations

import inspect
import re
import uuid
from collections import Counter
from datetime import date

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from marshmallow import fields, validate
from nameko.exceptions import RemoteError

from services.notification import schemas as notification_schemas
from services.notification.service import NotificationService
from services.project import schemas as project_schemas
from services.project.service import ProjectService
from services.resource import schemas as resource_schemas
from services.resource.service import ResourceService
from services.timesheet import schemas as timesheet_schemas
from services.timesheet.service import TimesheetService
from shared import validation as v
from shared.errors import ChronicleError, ValidationError
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.e2e.helpers import chronicle_of
from tests.notification.helpers import SmtpServer, free_port

SERVICES = {
    "project": (ProjectService, project_schemas),
    "timesheet": (TimesheetService, timesheet_schemas),
    "resource": (ResourceService, resource_schemas),
    "notification": (NotificationService, notification_schemas),
}
EXAMPLES_PER_RPC = 10  # about a minute for the whole file on a quiet machine (2 cores)


def rpc_methods(cls) -> list[str]:
    return sorted(name for name, member in inspect.getmembers(cls)
                  if any(type(e).__name__ == "Rpc" for e in getattr(member, "nameko_entrypoints", ())))


def schema_of(service: str, method: str):
    """The argument schema an RPC loads its keyword arguments with (read from its source)."""
    cls, module = SERVICES[service]
    if method == "events_since":
        return v.FeedSchema
    if method == "status":  # served by the kit (shared.entrypoints.KitService)
        return v.StatusSchema
    source = inspect.getsource(getattr(cls, method))
    found = re.search(r"\bload\((?:s\.|schemas\.)?(\w+Schema)\b", source)
    assert found, f"{service}.{method} validates its arguments with no schema"
    return getattr(module, found.group(1))


RPCS = [(service, method) for service, (cls, _) in SERVICES.items() for method in rpc_methods(cls)]

# -- values ----------------------------------------------------------------------------------------------
HOSTILE = st.sampled_from([
    None, "", " ", "\x00", "a\x00b", "\u202eevil", "9999-12-31", "0001-01-01", "9999-W53", "9999-W52", "1.5",
    "1e309", "NaN", "true", 1.5, True, False, 0, -1, 2**64, 1e308, float("nan"), float("inf"),
    {"nested": {"$gt": ""}}, [1, [2]], [], {}, "x" * 5000, "Ærøskøbing", "2026-02-30", "2026-W48\n",
])
ANY_UUID = st.uuids().map(str)
DATES = st.one_of(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 12, 31)).map(str),
    st.sampled_from(["1900-01-01", "2999-12-31", "3000-01-01", "1899-12-31", "9999-12-31", "0001-01-01",
                     "2026-03-02", "2026-03-03"]),
)
WEEKS = st.one_of(
    st.builds(lambda y, w: f"{y:04d}-W{w:02d}", st.integers(2020, 2032), st.integers(1, 53)),
    st.sampled_from(["1900-W01", "3000-W01", "3000-W02", "9999-W52", "9999-W53", "0001-W01", "2026-W10"]),
)
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["Ærøskøbing", "Łódź 東京 👩‍💻", "ok", "line\nbreak"]))


def value_for(field, name: str, ids: dict):
    """A strategy for one schema field: mostly values of its kind (many valid), some hostile ones."""
    if isinstance(field, v.Id):
        own = st.sampled_from(ids.get(name) or ids["any"])
    elif isinstance(field, v.IsoDate):
        own = DATES
    elif isinstance(field, v.IsoWeek):
        own = WEEKS
    elif isinstance(field, v.IsoDateTime):
        own = st.sampled_from(["2026-03-04T10:00:00Z", "2999-12-31T23:59:59+00:00", "9999-12-31T23:59:59Z",
                               "2026-03-04T10:00:00"])
    elif isinstance(field, v.Hours):
        own = st.one_of(st.decimals(min_value=0, max_value=30, places=2).map(float),
                        st.sampled_from([24, 24.01, 7.255, 1e30, "8", -1]))
    elif isinstance(field, v.Money):
        own = st.sampled_from(["1250.00", "0.5", 12.5, "-1", "1e30", "1000000000001", "٣"])
    elif isinstance(field, v.Boolean):
        own = st.sampled_from([True, False, 1, "true"])
    elif isinstance(field, (fields.Integer, fields.Number)):
        own = st.one_of(st.integers(-3, 10**6), st.sampled_from(["1", 1.5, True, 2**63, 2**70]))
    elif isinstance(field, fields.List):
        own = st.lists(value_for(field.inner, name, ids), max_size=4)
    elif isinstance(field, fields.Email):
        own = st.sampled_from(["dev@example.com", "dev\x00@example.com", "x@y", "not-an-email"])
    elif name == "url":
        port = ids["port"]
        own = st.sampled_from([f"http://127.0.0.1:{port}/hook", f"http://127.0.0.1:{port}/h\x00",
                               "ftp://127.0.0.1/", "http://", "http://[::1", "http://127.0.0.1:0/"])
    else:
        choices = next((val.choices for val in getattr(field, "validators", [])
                        if isinstance(val, validate.OneOf)), None)
        own = st.one_of(st.sampled_from(list(choices)), TEXT) if choices else TEXT
    return st.one_of(own, own, own, HOSTILE)  # three in four of its kind


BAD_DATES = {"9999-12-31", "0001-01-01", "3000-01-01", "1899-12-31", "2026-02-30"}
BAD_WEEKS = {"9999-W52", "9999-W53", "0001-W01", "3000-W02", "2026-W48\n"}
BAD_CHARACTERS = ("\x00", "\u202e")


def must_refuse(schema, kwargs) -> list[str]:
    """The arguments no service may accept, whatever else the call says: unknown keys, a date or week outside
    the system's range, a position that is not an integer, text with NUL or a bidi override."""
    fields_ = schema().fields
    bad = []
    for name, value in kwargs.items():
        field = fields_.get(name)
        if field is None:
            bad.append(name)
        elif isinstance(field, v.IsoDate) and isinstance(value, str) and value in BAD_DATES:
            bad.append(name)
        elif isinstance(field, v.IsoWeek) and isinstance(value, str) and value in BAD_WEEKS:
            bad.append(name)
        elif isinstance(field, v.IsoDateTime) and isinstance(value, str) and value.startswith("9999"):
            bad.append(name)
        elif name in ("min_position", "position") and (isinstance(value, (str, bool, float))):
            bad.append(name)
        elif (type(field) in (fields.String, getattr(v, "Text", fields.String)) or name in ("name", "description", "reason", "customer", "title")) \
                and isinstance(value, str) and any(c in value for c in BAD_CHARACTERS):
            bad.append(name)
    return bad


def arguments(schema, ids: dict):
    fields_ = schema().fields
    names = sorted(fields_)
    present = st.fixed_dictionaries({}, optional={n: value_for(fields_[n], n, ids) for n in names})
    required = {n: value_for(f, n, ids) for n, f in fields_.items() if f.required}
    unknown = st.dictionaries(st.sampled_from(["bogus", "employeeId", "__proto__", "actor"]), HOSTILE, max_size=1)
    return st.builds(lambda req, opt, extra: {**opt, **req, **extra},
                     st.fixed_dictionaries(required), present, st.one_of(st.just({}), st.just({}), unknown))


# -- the platform ----------------------------------------------------------------------------------------
class Platform:
    def __init__(self, runner, rpc, ids):
        self.runner, self.rpc, self.ids = runner, rpc, ids
        self.tried = Counter()
        self.outcomes = Counter()

    def appended_by(self, service, method, after):
        """Events the call appended to the service's own streams (mirrored foreign events excluded)."""
        store = chronicle_of(self.runner, service).store
        return [e for e in store.read_all(after, None, limit=10_000)
                if "~" not in e.stream and e.metadata.get("command") == method]


@pytest.fixture(scope="module")
def platform(amqp_uri, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    smtp = SmtpServer(tmp / "maildir").start()
    config = service_config(
        amqp_uri, tmp / "data", READ_WAIT_SECONDS=0.5, FEED_RPC_TIMEOUT=5.0,
        SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_FROM="chronicle@example.com",
        WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_MAX_ATTEMPTS=1, REMINDER_CHECK_SECONDS=3600,
    )
    try:
        with running(config, *(cls for cls, _ in SERVICES.values())) as runner, rpc_proxy(config, timeout=20) as rpc:
            manager = rpc.resource.register_resource(name="Mona Manager", email="mona@fuzz.example")
            dev = rpc.resource.register_resource(name="Dev Eloper", email="dev@fuzz.example")
            project = rpc.project.create_project(name="Quay", code="QUAY", manager_id=manager["id"],
                                                 starts_on="2020-01-01", budget_hours=1000)
            task = rpc.project.add_task(project_id=project["id"], name="Piling")
            rpc.project.assign_member(project_id=project["id"], employee_id=dev["id"])
            entry = wait_until(lambda: rpc.timesheet.log_time(employee_id=dev["id"], project_id=project["id"],
                                                              date="2026-03-02", hours=2),
                               timeout=20, ignore=(ChronicleError,))
            booking = rpc.resource.book_resource(resource_id=dev["id"], project_id=project["id"],
                                                 starts_on="2026-03-02", ends_on="2026-03-06", hours_per_day=4)
            absence = rpc.resource.register_absence(resource_id=dev["id"], starts_on="2026-04-06",
                                                    ends_on="2026-04-07")
            port = free_port()  # nothing listens there: deliveries fail, which is fine
            hook = rpc.notification.register_webhook(url=f"http://127.0.0.1:{port}/hook", event_types=["*"])
            people = [dev["id"], manager["id"], str(uuid.uuid4())]
            ids = {
                "any": [str(uuid.uuid4()), dev["id"], project["id"]], "port": port,
                "project_id": [project["id"], str(uuid.uuid4())], "task_id": [task["id"], str(uuid.uuid4())],
                "entry_id": [entry["id"], str(uuid.uuid4())],
                "booking_id": [booking["id"], str(uuid.uuid4())], "absence_id": [absence["id"], str(uuid.uuid4())],
                "webhook_id": [hook["id"], str(uuid.uuid4())],
                **{k: people for k in ("employee_id", "resource_id", "manager_id", "approver_id", "actor_id",
                                       "member_id", "user_id", "person_id")},
            }
            platform = Platform(runner, rpc, ids)
            yield platform
    finally:
        smtp.stop()


def test_every_rpc_has_an_argument_schema():
    assert len(RPCS) >= 40
    for service, method in RPCS:
        schema_of(service, method)


@pytest.mark.parametrize("service, method", RPCS, ids=[f"{s}.{m}" for s, m in RPCS])
def test_hostile_arguments_get_declared_errors_and_append_nothing(platform, service, method):
    schema = schema_of(service, method)
    call = getattr(getattr(platform.rpc, service), method)
    kit = chronicle_of(platform.runner, service)

    @settings(max_examples=EXAMPLES_PER_RPC, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(arguments(schema, platform.ids))
    def check(kwargs):
        before = kit.store.head_position()
        platform.tried[(service, method)] += 1
        bad = must_refuse(schema, kwargs)
        try:
            call(**kwargs)
            assert not bad, f"{service}.{method}({kwargs!r}) accepted {bad}"
            platform.outcomes["answered"] += 1
            return
        except ValidationError as exc:
            assert exc.errors, "a ValidationError without field errors"
            platform.outcomes["ValidationError"] += 1
        except ChronicleError as exc:
            assert not bad, f"{service}.{method}({kwargs!r}) answered {type(exc).__name__} {exc.code}, not a " \
                            f"ValidationError, for {bad}"
            assert exc.code and isinstance(exc.code, str), f"{type(exc).__name__} without a code"
            platform.outcomes[type(exc).__name__] += 1
        except RemoteError as exc:
            pytest.fail(f"{service}.{method}({kwargs!r}) raised an undeclared {exc.exc_type}: {exc.value}")
        appended = platform.appended_by(service, method, before)
        assert appended == [], f"{service}.{method}({kwargs!r}) was refused but appended {appended}"

    check()


def test_zz_report_the_cases_tried(platform, capsys):
    """Runs after the RPC tests (pytest keeps file order): the figures for docs/reliability.md."""
    total = sum(platform.tried.values())
    per_rpc = ", ".join(f"{s}.{m} {platform.tried[(s, m)]}" for s, m in RPCS)
    with capsys.disabled():
        print(f"\nrpc fuzz: {total} cases over {len(RPCS)} RPCs; outcomes {dict(sorted(platform.outcomes.items()))}"
              f"\n  per RPC: {per_rpc}")
    assert total >= len(RPCS)
