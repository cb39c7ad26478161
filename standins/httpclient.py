"""A small JSON-over-HTTP(S) client with a timeout on every call and no auto-redirects.

Used by the leader to start an added node's Raft, by iam to reach flaredb, and by the
conformance suite. Redirects and 421 hints are left to callers, who must see them.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from standins.errors import ClientError


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def client_tls_context(ca: Path | None, cert: Path | None = None,
                       key: Path | None = None) -> ssl.SSLContext:
    """Verify servers against `ca` (system store without one); present cert/key if given."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def request(method: str, url: str, body: Any = None, *, timeout: float = 5.0,
            headers: dict[str, str] | None = None,
            tls: ssl.SSLContext | None = None) -> HttpResult:
    """One HTTP call; the JSON body (if any) is decoded, otherwise `body` is the text.

    Raises:
        ClientError: connection, TLS or timeout failure (status None).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"{method} {url}: not an http(s) URL; fix the base URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout,
                                           context=tls or ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    send_headers = {"Accept": "application/json", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        send_headers["Content-Type"] = "application/json"
    try:
        conn.request(method, target, body=payload, headers=send_headers)
        response = conn.getresponse()
        raw = response.read()
        got_headers = {k.lower(): v for k, v in response.getheaders()}
        status = response.status
    except (OSError, http.client.HTTPException) as err:
        raise ClientError(f"{method} {url}: {type(err).__name__}: {err}") from err
    finally:
        conn.close()
    decoded: Any
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw.decode("utf-8", "replace")
    return HttpResult(status, decoded, got_headers)
