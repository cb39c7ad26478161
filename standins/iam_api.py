"""iam endpoints: /health, /users, /tokens, with bearer-token authentication.

Secrets discipline: passwords are kept only as salted scrypt hashes, tokens only as
SHA-256 digests (keys in flaredb), and none of them is ever passed to the logger.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from standins import contract as c
from standins.errors import StoreError
from standins.iam_store import FlaredbStore
from standins.log import JsonLog
from standins.server import Request, Response, error

USERS = "iam/users/"
TOKENS = "iam/tokens/"
ADMIN_CLAIM = "iam/admin"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash`, hex-encoded; a fresh random salt unless given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Constant-time check of `password` against a `hash_password` string."""
    try:
        _, _, _, _, salt_hex, digest_hex = stored.split("$")
        expected = hash_password(password, bytes.fromhex(salt_hex)).rsplit("$", 1)[1]
    except ValueError:
        return False
    return hmac.compare_digest(expected, digest_hex)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


class IamApp:
    """Routes iam requests; `now` is injectable so expiry is tested without waiting."""

    def __init__(self, node_id: str, store: FlaredbStore, log: JsonLog,
                 bootstrap_token: str | None, bootstrap_expires: datetime | None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 health_delay: float = 0.0) -> None:
        self._node_id = node_id
        self._store = store
        self._log = log
        self._bootstrap = bootstrap_token
        self._bootstrap_expires = bootstrap_expires
        self._now = now
        self._ready_at = time.monotonic() + health_delay
        if bootstrap_token:
            log.redact(bootstrap_token)

    def handle(self, request: Request) -> Response:
        seg = request.segments()
        if seg == ["health"] and request.method == "GET":
            return self.health()
        routes = {("POST", "users"), ("GET", "users"), ("POST", "tokens")}
        known = (request.method, seg[0] if seg else "") in routes and len(seg) <= 2
        if not known:
            return error(404, f"no such endpoint: {request.method} {request.path}")
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        try:
            if seg == ["users"] and request.method == "POST":
                return self.create_user(request)
            if seg == ["users"]:
                return self.list_users(request.query.get("role"))
            if seg[0] == "users" and len(seg) == 2:
                return self.get_user(seg[1])
            if seg == ["tokens"]:
                return self.issue_token(request)
        except StoreError as err:
            self._log.error("store unavailable", error=str(err))
            return error(503, "store unavailable", ("Retry-After", "1"))
        return error(404, f"no such endpoint: {request.method} {request.path}")

    def health(self) -> Response:
        if time.monotonic() < self._ready_at:
            return Response(503, c.dump(c.Starting()), (("Retry-After", "1"),))
        ok = self._store.ping()
        body = c.IamHealth(status="ok" if ok else "degraded", node_id=self._node_id,
                           store="ok" if ok else "unreachable")
        return Response(200 if ok else 503, c.dump(body))

    def authenticate(self, request: Request) -> Response | None:
        """None when the bearer token is valid, else the 401 to send."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return error(401, "invalid token")
        if self._bootstrap and hmac.compare_digest(token.encode(), self._bootstrap.encode()):
            if self._bootstrap_expires is not None and self._now() >= self._bootstrap_expires:
                return error(401, "token expired")
            return None
        try:
            record = self._store.get(TOKENS + token_digest(token))
        except StoreError:
            return error(503, "store unavailable", ("Retry-After", "1"))
        if not isinstance(record, dict):
            return error(401, "invalid token")
        if self._now() >= datetime.fromisoformat(str(record["expires_at"])):
            return error(401, "token expired")
        return None

    def create_user(self, request: Request) -> Response:
        try:
            body = c.UserCreate.model_validate(request.json())
        except (ValueError, ValidationError) as err:
            where = ""
            if isinstance(err, ValidationError):
                where = ".".join(str(p) for p in err.errors()[0]["loc"])
            # Never echo the body: it holds a password.
            return error(400, f"malformed body: {where or 'not a JSON object'}")
        created_at = _iso(self._now())
        replay = self._replay(body)
        if replay is not None:
            return replay
        if body.role is c.UserRole.ADMIN and not self._store.put(ADMIN_CLAIM, body.name, True):
            holder = self._store.get(ADMIN_CLAIM)
            return self._replay(body) or error(409, "user exists" if holder == body.name else "admin exists")
        record: dict[str, Any] = {"name": body.name, "role": str(body.role),
                                  "created_at": created_at,
                                  "password_hash": hash_password(body.password)}
        if not self._store.put(USERS + body.name, record, True):
            if body.role is c.UserRole.ADMIN:
                self._store.delete(ADMIN_CLAIM)  # give the claim back: the name is taken
            return error(409, "user exists")
        self._log.info("user created", user=body.name, role=str(body.role))
        return Response(201, c.dump(c.UserView(name=body.name, role=body.role,
                                               created_at=created_at)))

    def _replay(self, body: c.UserCreate) -> Response | None:
        """The same create again (same name, role and password): 200, not 409. A client that
        crashed after its create was committed can retry and learn the account is its own."""
        existing = self._store.get(USERS + body.name)
        if not isinstance(existing, dict) or existing.get("role") != str(body.role):
            return None
        if not password_matches(body.password, str(existing.get("password_hash", ""))):
            return None
        return Response(200, c.dump(c.UserView(name=body.name, role=body.role, created_at=existing["created_at"])))

    def list_users(self, role: str | None) -> Response:
        users = [c.UserView(name=v["name"], role=v["role"], created_at=v["created_at"])
                 for _, v in self._store.items(USERS) if isinstance(v, dict)]
        if role:
            users = [u for u in users if u.role == role]
        return Response(200, c.dump(c.UserList(users=users)))

    def get_user(self, name: str) -> Response:
        value = self._store.get(USERS + name)
        if not isinstance(value, dict):
            return error(404, f"no such user: {name}")
        return Response(200, c.dump(c.UserView(name=value["name"], role=value["role"],
                                               created_at=value["created_at"])))

    def issue_token(self, request: Request) -> Response:
        try:
            body = c.TokenRequest.model_validate(request.json())
        except (ValueError, ValidationError) as err:
            return error(400, f"malformed body: {type(err).__name__}")
        token = secrets.token_urlsafe(32)
        self._log.redact(token)
        now = self._now()
        expires_at = _iso(now + timedelta(seconds=body.ttl_s))
        self._store.put(TOKENS + token_digest(token),
                        {"subject": body.subject, "expires_at": expires_at,
                         "created_at": _iso(now)})
        self._log.info("token issued", subject=body.subject, expires_at=expires_at)
        return Response(201, c.dump(c.TokenIssued(token=token, subject=body.subject,
                                                  expires_at=expires_at)))
