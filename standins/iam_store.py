"""iam's store: flaredb's KV over HTTP, following 421 leader hints, within a deadline.

All iam state lives in flaredb so every iam node sees the same users and tokens, and
"exactly one admin" is decided by one atomic `create_only` write in flaredb's Raft.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from standins import httpclient
from standins.errors import ClientError, StoreError

MAX_HOPS = 3
RETRY_BUDGET_S = 8.0
RETRY_PAUSE_S = 0.25


class FlaredbStore:
    """Get/put/list/delete against flaredb's `/kv` API."""

    def __init__(self, base_url: str, tls: ssl.SSLContext | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._base = base_url.rstrip("/")
        self._tls = tls
        self._sleep = sleep
        self._clock = clock

    def _call(self, method: str, path: str, body: Any = None) -> httpclient.HttpResult:
        """One logical call: follows 421/307 leader hints (at most MAX_HOPS) and retries
        503 until RETRY_BUDGET_S is spent.

        Raises:
            StoreError: flaredb unreachable or still unavailable when the budget ran out.
        """
        deadline = self._clock() + RETRY_BUDGET_S
        attempts = 0
        last = "nothing yet"
        base = self._base
        hops = 0
        while attempts < 100 and self._clock() < deadline:
            attempts += 1
            try:
                result = httpclient.request(method, base + path, body, timeout=5.0,
                                            tls=self._tls)
            except ClientError as err:
                last = str(err)
                if attempts >= 2:
                    break
                self._sleep(RETRY_PAUSE_S)
                continue
            hint = result.header("x-leader-url")
            if result.status in (421, 307) and hint and hops < MAX_HOPS:
                base, hops = hint.rstrip("/"), hops + 1
                continue
            if result.status == 503:
                last = f"503 {result.body}"
                self._sleep(RETRY_PAUSE_S)
                continue
            return result
        raise StoreError(f"flaredb {method} {path}: unavailable after {attempts} attempts "
                         f"within {RETRY_BUDGET_S}s; last saw {last}; check --flaredb-url")

    def ping(self) -> bool:
        """Whether flaredb answers /health with 200."""
        try:
            return httpclient.request("GET", self._base + "/health", timeout=2.0,
                                      tls=self._tls).status == 200
        except ClientError:
            return False

    def get(self, key: str) -> Any | None:
        result = self._call("GET", "/kv/" + quote(key, safe="/"))
        if result.status == 404:
            return None
        self._expect(result, 200, key)
        return result.body["value"]

    def put(self, key: str, value: Any, create_only: bool = False) -> bool:
        """Write; with create_only, False when the key already exists."""
        query = "?create_only=true" if create_only else ""
        result = self._call("PUT", "/kv/" + quote(key, safe="/") + query, {"value": value})
        if create_only and result.status == 409:
            return False
        self._expect(result, 201 if create_only else 200, key)
        return True

    def delete(self, key: str) -> bool:
        result = self._call("DELETE", "/kv/" + quote(key, safe="/"))
        return result.status == 200

    def items(self, prefix: str) -> list[tuple[str, Any]]:
        result = self._call("GET", "/kv?prefix=" + quote(prefix, safe=""))
        self._expect(result, 200, prefix)
        return [(item["key"], item["value"]) for item in result.body["items"]]

    @staticmethod
    def _expect(result: httpclient.HttpResult, status: int, key: str) -> None:
        if result.status != status or not isinstance(result.body, dict):
            raise StoreError(f"flaredb answered {result.status} for {key!r}, expected "
                             f"{status}: {str(result.body)[:200]}")
