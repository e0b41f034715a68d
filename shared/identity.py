"""Who is calling: signed bearer tokens, issued and revoked as events, verified by every service.

A token is a JWT (HS256, PyJWT) naming its id (``jti``), its subject (a resource id, or a service's name)
and its role. Issuing and revoking it are events in the identity store (streams ``token-<id>``), so who was
given access, by whom and until when is part of the audit trail. The token itself is never stored: only its
SHA-256.

A service accepts a token when its signature verifies, it has not expired, and the identity store knows it
and holds no revocation for it. Services re-read the store at most every ``TOKEN_REFRESH_SECONDS``
(default 30), so a revoked token stops working everywhere within a minute.

The platform's own calls between its processes (feed pulls, the ``chronicle`` operator command) use *internal*
tokens: minted on the spot by a process that holds the token key (role ``service`` for a service, ``admin`` for
the operator's command), valid for ``INTERNAL_TOKEN_SECONDS`` and never stored. Holding the key is the same trust
as operating the platform; people's and other systems' tokens always go through the identity store.
"""
from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from marshmallow import Schema, fields, validate

from .aggregate import Aggregate
from .errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationError
from .events import EventRegistry
from .eventstore import NO_STREAM, NewEvent

ROLES = ("admin", "manager", "employee", "service")
PERSON_ROLES = ("admin", "manager", "employee")
ALGORITHM = "HS256"
CATEGORY = "token"
INTERNAL = "internal"  # the ``kind`` claim of a token minted by a Chronicle process for itself
INTERNAL_TOKEN_SECONDS = 900
INTERNAL_ROLES = ("service", "admin")

events = EventRegistry()


@events.register("TokenIssued", version=1)
class TokenIssued(Schema):
    token_id = fields.String(required=True)
    subject = fields.String(required=True)  # a resource id, or a service's name
    kind = fields.String(required=True, validate=validate.OneOf(("person", "service")))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    token_hash = fields.String(required=True)  # SHA-256 of the token: the token itself is never stored
    issued_at = fields.String(required=True)
    expires_at = fields.String(required=True, allow_none=True)
    label = fields.String(required=True, allow_none=True)


@events.register("TokenRevoked", version=1)
class TokenRevoked(Schema):
    token_id = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    revoked_at = fields.String(required=True)


class Token(Aggregate):
    """One token's life: issued once, revoked at most once."""

    category = CATEGORY

    def __init__(self, id):
        super().__init__(id)
        self.subject = self.kind = self.role = self.token_hash = self.expires_at = None
        self.revoked = False

    # -- commands -------------------------------------------------------------------------------
    def issue(self, *, subject, kind, role, token_hash, issued_at: datetime, expires_at: datetime | None,
              label=None):
        if self.exists:
            raise Conflict(f"token {self.id} exists already", code="token.exists")
        if kind == "service" and role != "service":
            raise ValidationError({"role": ["A service token has the role 'service'."]})
        if kind == "person" and role not in PERSON_ROLES:
            raise ValidationError({"role": [f"Must be one of: {', '.join(PERSON_ROLES)}."]})
        if expires_at is not None and expires_at <= issued_at:
            raise ValidationError({"expires": ["Must be in the future."]})
        self.record("TokenIssued", token_id=self.id, subject=subject, kind=kind, role=role, token_hash=token_hash,
                    issued_at=issued_at.isoformat(), expires_at=expires_at.isoformat() if expires_at else None,
                    label=label)

    def revoke(self, *, revoked_at: datetime, reason=None):
        if not self.exists:
            raise NotFound(f"token {self.id} not found", code="token.not_found")
        if self.revoked:
            return  # revoking twice changes nothing
        self.record("TokenRevoked", token_id=self.id, reason=reason, revoked_at=revoked_at.isoformat())

    # -- state ------------------------------------------------------------------------------------
    def on_TokenIssued(self, data):
        self.subject, self.kind, self.role = data["subject"], data["kind"], data["role"]
        self.token_hash, self.expires_at = data["token_hash"], data["expires_at"]

    def on_TokenRevoked(self, data):
        self.revoked = True


@dataclass(frozen=True)
class Identity:
    """A verified caller."""

    token_id: str
    subject: str
    role: str

    @property
    def is_service(self) -> bool:
        return self.role == "service"

    @property
    def actor(self) -> str:
        """Who acts, as recorded in events' metadata: a person's resource id, or ``service:<name>``."""
        return f"service:{self.subject}" if self.is_service else self.subject

    def to_context(self) -> dict:
        return {"token_id": self.token_id, "subject": self.subject, "role": self.role}

    @classmethod
    def from_context(cls, data) -> Identity | None:
        if not isinstance(data, dict):
            return None
        return cls(token_id=data["token_id"], subject=data["subject"], role=data["role"])

    def require(self, *roles: str, what: str = "this"):
        """Refuse (``Forbidden``, code ``auth.role``) unless the caller has one of ``roles``."""
        if self.role not in roles:
            raise Forbidden(f"{what} is for {' or '.join(roles)}; you are {self.role}", code="auth.role")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(token: str) -> dict:
    """The nameko context data that presents ``token`` on an RPC call."""
    return {"authorization": f"Bearer {token}"}


class InternalCredentials:
    """A process's own service identity for the RPCs it makes (feed pulls, operator commands): nameko context data
    whose internal token is renewed before it expires. Pass ``context`` to a ``ClusterRpcProxy`` and call
    ``refresh()`` before each call: the proxy reads the same dict on every call."""

    def __init__(self, book: TokenBook, subject: str, seconds: float = INTERNAL_TOKEN_SECONDS, role="service"):
        self.book, self.subject, self.seconds, self.role = book, subject, seconds, role
        self.context: dict = {}
        self._renew_at = float("-inf")

    def refresh(self) -> dict:
        if time.monotonic() >= self._renew_at:
            self.context.update(bearer(self.book.mint_internal(self.subject, self.seconds, self.role)))
            self._renew_at = time.monotonic() + self.seconds / 2
        return self.context


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


VERIFIED_KEPT = 10_000  # verified tokens remembered per process (then forgotten all at once and verified again)


class TokenBook:
    """Tokens kept in an event store: issue and revoke (the ``chronicle token`` command), authenticate
    (every service, on every call)."""

    def __init__(self, store, secret: str, *, clock=_utcnow, refresh_seconds: float = 30.0):
        if not secret:
            raise ValueError("a token signing secret is required")
        self.store, self.secret, self.clock = store, secret, clock
        self.refresh_seconds = refresh_seconds
        self._known: dict[str, Token] = {}  # token id -> its state, as far as we have read
        self._position = 0
        self._refreshed_at = float("-inf")
        self._lock = threading.Lock()
        self._verified: dict[str, dict] = {}  # token -> its claims, once its signature verified: a token's bytes
        # always verify alike, so each caller's token is checked once per process, not once per call

    # -- issuing (the CLI) ------------------------------------------------------------------------
    def issue(self, subject: str, role: str, *, service: bool = False, expires_days: float | None = None,
              label: str | None = None) -> tuple[str, str]:
        """A new token for ``subject``; returns (token id, token). The token is shown once, never stored."""
        subject = (subject or "").strip()
        if not subject:
            raise ValidationError({"service" if service else "user": ["Required."]})
        if role not in ROLES:
            raise ValidationError({"role": [f"Must be one of: {', '.join(ROLES)}."]})
        if expires_days is not None and not 0 < expires_days <= 3650:
            raise ValidationError({"expires": ["Must be between 0 and 3650 days."]})
        now = self.clock().replace(microsecond=0)
        expires_at = now + timedelta(days=expires_days) if expires_days is not None else None
        token_id = str(uuid.uuid4())
        claims = {"jti": token_id, "sub": subject, "role": role, "iat": int(now.timestamp())}
        if expires_at is not None:
            claims["exp"] = int(expires_at.timestamp())
        token = jwt.encode(claims, self.secret, algorithm=ALGORITHM)
        aggregate = Token(token_id)
        aggregate.issue(subject=subject, kind="service" if service else "person", role=role,
                        token_hash=token_hash(token), issued_at=now, expires_at=expires_at, label=label)
        self._append(aggregate, NO_STREAM)
        return token_id, token

    def mint_internal(self, subject: str, seconds: float = INTERNAL_TOKEN_SECONDS, role: str = "service") -> str:
        """A short-lived token for this platform's own process ``subject``: a service (role ``service``) or the
        operator's ``chronicle`` command (role ``admin``). Never stored, not revocable: rotate the token key."""
        if role not in INTERNAL_ROLES:
            raise ValueError(f"an internal token's role is one of {INTERNAL_ROLES}")
        now = int(self.clock().timestamp())
        claims = {"jti": f"{INTERNAL}:{subject}:{uuid.uuid4()}", "sub": subject, "role": role, "kind": INTERNAL,
                  "iat": now, "exp": now + int(seconds)}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def revoke(self, token_id: str, reason: str | None = None) -> bool:
        """Revoke a token; False if it was revoked already."""
        aggregate = self._load(token_id)
        if aggregate.revoked:
            return False
        aggregate.revoke(revoked_at=self.clock(), reason=reason)
        self._append(aggregate, aggregate.version)
        return True

    def list(self) -> list[dict]:
        """Every token issued, newest first, without the tokens themselves."""
        tokens: dict[str, dict] = {}
        for event in self._events_after(0):
            if event.type == "TokenIssued":
                tokens[event.data["token_id"]] = {k: v for k, v in event.data.items() if k != "token_hash"} | {
                    "revoked_at": None}
            elif event.type == "TokenRevoked" and event.data["token_id"] in tokens:
                tokens[event.data["token_id"]]["revoked_at"] = event.data["revoked_at"]
        return sorted(tokens.values(), key=lambda t: t["issued_at"], reverse=True)

    def _events_after(self, position):
        while True:
            page = self.store.read_all(position, [CATEGORY], limit=1000)
            yield from page
            if len(page) < 1000:
                return
            position = page[-1].position

    def _load(self, token_id) -> Token:
        aggregate = Token.rebuild(str(token_id), self.store.read_stream(f"{CATEGORY}-{token_id}"))
        if aggregate.version < 0:
            raise NotFound(f"token {token_id} not found", code="token.not_found")
        return aggregate

    def _append(self, aggregate: Token, expected):
        new = []
        for pending in aggregate.pending:
            version = events.validate(pending.type, pending.data)
            new.append(NewEvent(type=pending.type, data=pending.data, schema_version=version,
                                metadata={"actor": "chronicle-cli", "command": pending.type}))
        self.store.append(aggregate.stream, new, expected)
        aggregate.pending = []

    # -- authenticating (every service) ---------------------------------------------------------------
    def authenticate(self, authorization) -> Identity:
        """The verified caller of an ``Authorization: Bearer <token>`` value; ``Unauthenticated`` otherwise."""
        if not authorization:
            raise Unauthenticated("no bearer token: pass 'authorization': 'Bearer <token>'", code="auth.missing")
        scheme, _, token = str(authorization).strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the authorization must be 'Bearer <token>'", code="auth.invalid")
        claims = self._verified.get(token)
        if claims is None:
            try:  # the expiry is checked below, by our clock (the OS's in production), on every call
                claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], leeway=0,
                                    options={"require": ["jti", "sub", "iat"], "verify_exp": False})
            except jwt.InvalidTokenError:
                raise Unauthenticated("the token is not valid", code="auth.invalid") from None
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.clear()
            self._verified[token] = claims
        if not isinstance(claims.get("exp", 0), (int, float)):
            raise Unauthenticated("the token is not valid", code="auth.invalid")
        if claims.get("exp") is not None and claims["exp"] <= self.clock().timestamp():
            raise Unauthenticated("the token has expired", code="auth.expired")  # by our clock, not the OS's
        if claims.get("kind") == INTERNAL:
            if claims.get("role") not in INTERNAL_ROLES or claims.get("exp") is None:
                raise Unauthenticated("the token is not valid", code="auth.invalid")
            return Identity(token_id=str(claims["jti"]), subject=str(claims["sub"]), role=claims["role"])
        known = self._known_token(str(claims["jti"]))
        if known is None or known.token_hash != token_hash(token):
            raise Unauthenticated("the token is not valid", code="auth.invalid")
        if known.revoked:
            raise Unauthenticated("the token has been revoked", code="auth.revoked")
        return Identity(token_id=known.id, subject=known.subject, role=known.role)

    def _known_token(self, token_id) -> Token | None:
        if time.monotonic() - self._refreshed_at > self.refresh_seconds:
            self._refresh()
        elif token_id not in self._known:
            self._refresh()  # a token issued a moment ago works at once
        return self._known.get(token_id)

    def _refresh(self):
        with self._lock:
            for event in self._events_after(self._position):
                token_id = event.data.get("token_id")
                token = self._known.setdefault(token_id, Token(token_id))
                token.apply(event)
                token.version = event.version
                self._position = event.position
            self._refreshed_at = time.monotonic()
