"""Attacks on identity itself (issue 11): whoever cannot present a token the deployment issued (or an internal one
minted with its key) is nobody, whatever the context data or the token's claims say. Each forgery is refused with
its ``auth.*`` code and appends nothing; a real token acts as its own subject and role only. Real project and
timesheet services on the real broker (the platform of the timesheet's role table)."""
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from shared import config as cfg
from shared.errors import Forbidden, Unauthenticated
from shared.identity import TokenBook, bearer
from shared.testing import issue_token
from tests.timesheet.test_roles import fresh_week, monday

OTHER_KEY = "not-the-deployment-key-0123456789abcdef0123"


def claims(subject="mallory", role="admin", **extra):
    now = int(time.time())
    return {"jti": "forged", "sub": subject, "role": role, "iat": now, "exp": now + 600, **extra}


def as_context(platform, context, rpc="lock_period", **kwargs):
    """Call the timesheet's ``rpc`` (default: lock_period, admins only) with raw ``context`` data; returns what it
    raised."""
    if rpc == "lock_period":
        kwargs = {"through_date": "2020-01-01"}
    before = platform.head()
    with ClusterRpcProxy(platform.config, timeout=15, context_data=context) as cluster:
        with pytest.raises((Unauthenticated, Forbidden)) as err:
            getattr(cluster.timesheet, rpc)(**kwargs)
    assert platform.head() == before, "a forged call appended events"
    return err.value


def forged_tokens(platform):
    key = cfg.token_key(platform.config)
    real = issue_token(platform.config, platform.employee, "employee")
    header, payload, signature = real.split(".")
    admin_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps(jwt.decode(real, options={"verify_signature": False}) | {"role": "admin"}).encode())
    expired_book = TokenBook(None, key, clock=lambda: datetime.now(timezone.utc) - timedelta(hours=2))
    return {
        "alg none": (jwt.encode(claims(), None, algorithm="none"), "auth.invalid"),
        "another key": (jwt.encode(claims(), OTHER_KEY, algorithm="HS256"), "auth.invalid"),
        "internal, another key": (jwt.encode(claims(kind="internal"), OTHER_KEY, algorithm="HS256"), "auth.invalid"),
        "internal, a person's role": (jwt.encode(claims(role="manager", kind="internal"), key, algorithm="HS256"),
                                      "auth.invalid"),
        "internal, expired": (expired_book.mint_internal("timesheet", seconds=60), "auth.expired"),
        "never issued": (jwt.encode(claims(), key, algorithm="HS256"), "auth.invalid"),
        "real token, claims edited": (f"{header}.{admin_payload.decode()}.{signature}", "auth.invalid"),
        "HS512 with the key": (jwt.encode(claims(kind="internal"), key, algorithm="HS512"), "auth.invalid"),
    }


@pytest.mark.parametrize("name", ["alg none", "another key", "internal, another key", "internal, a person's role",
                                  "internal, expired", "never issued", "real token, claims edited",
                                  "HS512 with the key"])
def test_a_forged_token_is_nobody(platform, name):
    token, code = forged_tokens(platform)[name]
    assert as_context(platform, bearer(token)).code == code


@pytest.mark.parametrize("context", [
    {"caller": {"token_id": "x", "subject": "root", "role": "admin"}},
    {"actor": "root", "user_id": "root", "role": "admin"},
    {"authorization": "Bearer"},
    {"authorization": ["Bearer", "x"]},
])
def test_claims_in_the_context_data_are_nobody(platform, context):
    assert as_context(platform, context).code in ("auth.missing", "auth.invalid")


def test_a_real_employee_token_with_claims_beside_it_acts_as_the_employee_only(platform):
    context = {**bearer(issue_token(platform.config, platform.employee, "employee")),
               "caller": {"token_id": "x", "subject": platform.other_employee, "role": "admin"},
               "actor": platform.other_employee, "user_id": platform.other_employee}
    assert as_context(platform, context).code == "auth.role"  # lock_period
    day = monday(fresh_week())
    assert as_context(platform, context, "log_time", employee_id=platform.other_employee,
                      project_id=platform.project, date=day, hours=1).code == "auth.not_own"
    with ClusterRpcProxy(platform.config, timeout=15, context_data=context) as cluster:
        entry = cluster.timesheet.log_time(employee_id=platform.employee, project_id=platform.project, date=day,
                                           hours=1)
        [logged] = [e for e in cluster.timesheet.history(employee_id=platform.employee, week=entry["week"])["events"]
                    if e["type"] == "TimeLogged"]
    assert logged["actor"] == platform.employee


def test_a_service_token_does_nothing_only_people_do(platform):
    service = bearer(issue_token(platform.config, "project", "service", service=True))
    week = {"employee_id": platform.employee, "week": fresh_week()}
    for rpc, kwargs in (("log_time", dict(employee_id=platform.employee, project_id=platform.project,
                                          date=monday(week["week"]), hours=1)),
                        ("submit_timesheet", week), ("approve_timesheet", week), ("reopen_timesheet",
                                                                                 dict(week, reason="x")),
                        ("lock_period", dict(through_date="2020-01-01")), ("period_lock", {})):
        assert as_context(platform, service, rpc, **kwargs).code == "auth.role", rpc
