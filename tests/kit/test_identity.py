"""Bearer tokens: issued and revoked as events, stored hashed, verified with PyJWT."""
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from shared.errors import Conflict, NotFound, Unauthenticated, ValidationError
from shared.eventstore import open_store
from shared.identity import Token, TokenBook, token_hash
from shared.testing import given, recorded, wait_until

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
SECRET = "test-secret-that-is-long-enough-for-hs256"


# -- the domain ---------------------------------------------------------------------------------
def test_issuing_records_the_hash_and_the_expiry():
    token = Token("t1")
    token.issue(subject="r1", kind="person", role="manager", token_hash="abc", issued_at=NOW,
                expires_at=NOW + timedelta(days=30), label="laptop")
    assert recorded(token) == [("TokenIssued", {
        "token_id": "t1", "subject": "r1", "kind": "person", "role": "manager", "token_hash": "abc",
        "issued_at": NOW.isoformat(), "expires_at": (NOW + timedelta(days=30)).isoformat(), "label": "laptop"})]


@pytest.mark.parametrize("kind, role", [("service", "admin"), ("person", "service"), ("person", "root")])
def test_a_role_must_fit_the_kind_of_subject(kind, role):
    with pytest.raises(ValidationError) as refused:
        Token("t1").issue(subject="x", kind=kind, role=role, token_hash="h", issued_at=NOW, expires_at=None)
    assert "role" in refused.value.errors


def test_a_token_is_issued_once_and_revoked_once():
    issued = ("TokenIssued", {"token_id": "t1", "subject": "r1", "kind": "person", "role": "admin",
                              "token_hash": "h", "issued_at": NOW.isoformat(), "expires_at": None, "label": None})
    with pytest.raises(Conflict):
        given(Token, "t1", issued).issue(subject="r1", kind="person", role="admin", token_hash="h", issued_at=NOW,
                                         expires_at=None)
    token = given(Token, "t1", issued)
    token.revoke(revoked_at=NOW, reason="left the company")
    assert recorded(token) == [("TokenRevoked", {"token_id": "t1", "reason": "left the company",
                                                 "revoked_at": NOW.isoformat()})]
    again = given(Token, "t1", issued, recorded(token)[0])
    again.revoke(revoked_at=NOW)
    assert recorded(again) == []
    with pytest.raises(NotFound):
        Token("unknown").revoke(revoked_at=NOW)


# -- issuing and authenticating ------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    return open_store(f"sqlite:///{tmp_path}/identity.events.db")


def test_a_token_verifies_as_its_subject_and_role_and_only_its_hash_is_stored(store):
    tokens = TokenBook(store, SECRET)
    token_id, token = tokens.issue("r1", "employee")
    caller = tokens.authenticate(f"Bearer {token}")
    assert (caller.token_id, caller.subject, caller.role, caller.actor) == (token_id, "r1", "employee", "r1")
    assert all(token not in json.dumps(e.to_dict()) for e in store.read_all(0))
    assert [e.data["token_hash"] for e in store.read_all(0)] == [token_hash(token)]
    _, svc = tokens.issue("timesheet", "service", service=True)
    assert tokens.authenticate(f"bearer {svc}").actor == "service:timesheet"


@pytest.mark.parametrize("authorization, code", [
    (None, "auth.missing"), ("", "auth.missing"), ("Basic abc", "auth.invalid"), ("Bearer", "auth.invalid"),
    ("Bearer not-a-jwt", "auth.invalid"),
])
def test_no_token_or_a_malformed_one_is_refused(store, authorization, code):
    with pytest.raises(Unauthenticated) as refused:
        TokenBook(store, SECRET).authenticate(authorization)
    assert refused.value.code == code


def test_a_token_signed_with_another_key_or_never_issued_is_invalid(store):
    tokens = TokenBook(store, SECRET)
    token_id, token = tokens.issue("r1", "admin")
    with pytest.raises(Unauthenticated) as other_key:
        TokenBook(store, "another-secret-that-is-long-enough-for-hs256").authenticate(f"Bearer {token}")
    assert other_key.value.code == "auth.invalid"
    # the right key, but no TokenIssued: whoever holds the key cannot mint tokens the store never issued
    minted = jwt.encode({"jti": token_id, "sub": "r1", "role": "admin", "iat": 1}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated) as forged:
        tokens.authenticate(f"Bearer {minted}")
    assert forged.value.code == "auth.invalid"


def test_an_expired_token_is_refused(store):
    clock = [NOW]
    tokens = TokenBook(store, SECRET, clock=lambda: clock[0])
    _, token = tokens.issue("r1", "employee", expires_days=1)
    assert tokens.authenticate(f"Bearer {token}").subject == "r1"
    clock[0] = NOW + timedelta(days=1, seconds=1)
    with pytest.raises(Unauthenticated) as refused:
        tokens.authenticate(f"Bearer {token}")
    assert refused.value.code == "auth.expired"


def test_a_revocation_elsewhere_stops_the_token_within_the_refresh_interval(store, tmp_path):
    service = TokenBook(store, SECRET, refresh_seconds=0.2)  # a running service
    token_id, token = TokenBook(store, SECRET).issue("r1", "manager")
    assert service.authenticate(f"Bearer {token}").role == "manager"
    operator = TokenBook(open_store(f"sqlite:///{tmp_path}/identity.events.db"), SECRET)  # the CLI, elsewhere
    assert operator.revoke(token_id, "lost laptop") is True
    assert operator.revoke(token_id) is False

    def refused():
        try:
            service.authenticate(f"Bearer {token}")
        except Unauthenticated as exc:
            return exc.code == "auth.revoked"
        return False

    wait_until(refused, timeout=5, message="revoked token still accepted")
    [listed] = operator.list()
    assert listed["token_id"] == token_id and listed["revoked_at"] and "token_hash" not in listed


# -- the command ----------------------------------------------------------------------------------
def chronicle(tmp_path, *args):
    env = dict(os.environ, CHRONICLE_DATA_DIR=str(tmp_path), EVENTSTORE_URI="", CHRONICLE_TOKEN_KEY="")
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_chronicle_token_create_list_revoke(tmp_path):
    made = chronicle(tmp_path, "token", "create", "--user", "r1", "--role", "manager", "--expires", "30")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert oct(os.stat(tmp_path / "token.key").st_mode & 0o777) == "0o600"  # the local run's key, private
    from shared import config as cfg

    tokens = TokenBook(open_store(f"sqlite:///{tmp_path}/identity.events.db"),
                       cfg.token_key({"CHRONICLE_DATA_DIR": str(tmp_path)}))
    caller = tokens.authenticate(f"Bearer {token}")
    assert (caller.subject, caller.role) == ("r1", "manager")
    listed = chronicle(tmp_path, "token", "list", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["token_id"] == caller.token_id and token not in listed.stdout
    revoked = chronicle(tmp_path, "token", "revoke", caller.token_id, "--reason", "test")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    with pytest.raises(Unauthenticated):
        TokenBook(open_store(f"sqlite:///{tmp_path}/identity.events.db"), tokens.secret).authenticate(
            f"Bearer {token}")
    service = chronicle(tmp_path, "token", "create", "--service", "gateway", "--role", "service")
    assert service.returncode == 0, service.stderr
    wrong = chronicle(tmp_path, "token", "create", "--user", "r1", "--role", "service")
    assert wrong.returncode == 2 and "role" in wrong.stderr and "Traceback" not in wrong.stderr
    missing = chronicle(tmp_path, "token", "revoke", "no-such-token")
    assert missing.returncode == 2 and "not found" in missing.stderr
