"""iam logic over an in-memory store; the logger's redaction."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.iam_api import ADMIN_CLAIM, USERS, IamApp, hash_password
from standins.log import JsonLog
from standins.server import Request

BOOT = "bootstrap-token-123456"
NOW = datetime(2025, 12, 10, 10, 30, tzinfo=UTC)


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def ping(self) -> bool:
        return True

    def get(self, key: str) -> Any | None:
        return self.data.get(key)

    def put(self, key: str, value: Any, create_only: bool = False) -> bool:
        if create_only and key in self.data:
            return False
        self.data[key] = value
        return True

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    def items(self, prefix: str) -> list[tuple[str, Any]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))


def _app(expires: datetime | None = None) -> tuple[IamApp, MemoryStore, io.StringIO]:
    out = io.StringIO()
    store = MemoryStore()
    clock = {"now": NOW}
    app = IamApp(
        "n1",
        store,
        JsonLog("iam", "n1", stream=out),
        BOOT,  # type: ignore[arg-type]
        expires,
        now=lambda: clock["now"],
    )
    return app, store, out


def _req(method: str, path: str, body: Any = None, token: str | None = BOOT) -> Request:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    raw = json.dumps(body).encode() if body is not None else b""
    path, _, query = path.partition("?")
    q = dict(p.split("=") for p in query.split("&")) if query else {}
    return Request(method, path, q, headers, raw)


def test_one_admin_and_hashed_passwords() -> None:
    app, store, out = _app()
    first = app.handle(_req("POST", "/users", {"name": "admin", "role": "admin", "password": "pw-secret-1"}))
    assert first.status == 201 and first.body == {
        "name": "admin",
        "role": "admin",
        "created_at": "2025-12-10T10:30:00+00:00",
    }
    same = app.handle(_req("POST", "/users", {"name": "admin", "role": "admin", "password": "x"}))
    assert (same.status, same.body) == (409, {"error": "user exists"})
    other = app.handle(_req("POST", "/users", {"name": "root", "role": "admin", "password": "x"}))
    assert (other.status, other.body) == (409, {"error": "admin exists"})
    assert store.data[ADMIN_CLAIM] == "admin"
    stored = store.data[USERS + "admin"]
    assert stored["password_hash"].startswith("scrypt$") and "pw-secret-1" not in str(stored)
    assert "pw-secret-1" not in out.getvalue()
    listed = app.handle(_req("GET", "/users?role=admin"))
    assert [u["name"] for u in listed.body["users"]] == ["admin"]


def test_admin_claim_is_returned_when_the_name_is_taken() -> None:
    app, store, _ = _app()
    assert app.handle(_req("POST", "/users", {"name": "bob", "role": "user", "password": "x"})).status == 201
    taken = app.handle(_req("POST", "/users", {"name": "bob", "role": "admin", "password": "x"}))
    assert taken.status == 409 and ADMIN_CLAIM not in store.data


def test_tokens_and_401_messages() -> None:
    app, store, out = _app()
    assert app.handle(_req("GET", "/users", token=None)).body == {"error": "invalid token"}
    assert app.handle(_req("GET", "/users", token="nope")).body == {"error": "invalid token"}
    issued = app.handle(_req("POST", "/tokens", {"subject": "node:node01", "ttl_s": 60}))
    assert issued.status == 201
    token = issued.body["token"]
    assert issued.body["expires_at"] == (NOW + timedelta(seconds=60)).isoformat()
    assert app.handle(_req("GET", "/users", token=token)).status == 200
    assert not any(token in str(v) or token in k for k, v in store.data.items())
    assert token not in out.getvalue()


def test_expired_tokens() -> None:
    app, _, _ = _app(expires=NOW - timedelta(seconds=1))
    assert app.handle(_req("GET", "/users")).body == {"error": "token expired"}
    app2, store, _ = _app()
    issued = app2.handle(_req("POST", "/tokens", {"subject": "s", "ttl_s": 1}))
    key = next(k for k in store.data if k.startswith("iam/tokens/"))
    store.data[key]["expires_at"] = (NOW - timedelta(seconds=5)).isoformat()
    denied = app2.handle(_req("GET", "/users", token=issued.body["token"]))
    assert (denied.status, denied.body) == (401, {"error": "token expired"})


def test_malformed_user_body_never_echoes_password() -> None:
    app, _, _ = _app()
    bad = app.handle(_req("POST", "/users", {"name": "x y", "role": "admin", "password": "leak-me-not"}))
    assert bad.status == 400 and "leak-me-not" not in json.dumps(bad.body)


def test_hash_is_salted_and_deterministic_per_salt() -> None:
    assert hash_password("pw", b"1" * 16) == hash_password("pw", b"1" * 16)
    assert hash_password("pw") != hash_password("pw")


def test_log_lines_are_json_and_redacted() -> None:
    out = io.StringIO()
    log = JsonLog("chainfire", "n1", stream=out)
    log.redact("super-secret-token")
    log.info("event", detail="got super-secret-token here", n=1)
    record = json.loads(out.getvalue())
    assert record["message"] == "event" and record["detail"] == "got [redacted] here"
    assert {"timestamp", "level", "service", "node_id"} <= set(record)
