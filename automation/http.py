"""A small HTTP(S) client with deadlines, verified TLS and failures named in one word.

Redirects are not followed: a follower's 307 or 421 carries the leader's address, which the
join logic wants to see. Names are resolved on every request (Consul resolved them once and
cached a dead address). TLS verifies against `tls.ca_cert_path` by default; skipping
verification needs `tls.insecure_skip_verify: true` and is logged as a WARN on every request.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from automation import jsonload
from automation.errors import FbaError
from automation.log import Logger
from automation.spec.config import TlsConfig

MAX_BODY = 1024 * 1024
USER_AGENT = "fba/0.1"


class TransportError(FbaError):
    """No HTTP answer. `cause` is one of: connection refused, timed out, name resolution
    failed, TLS verification failed, connection error."""

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (a user's real service may differ).
        Read by the one JSON reader: a member list with `has_quorum` given twice is not an
        answer to act on, whichever copy another reader would keep."""
        try:
            return jsonload.loads(self.body, source=self.url) if self.body else None
        except jsonload.JsonError:
            return None

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        return value if isinstance(value, dict) else {}

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def excerpt(self, limit: int = 200) -> str:
        text = self.body[:limit].decode("utf-8", "replace").replace("\n", " ")
        return text + ("..." if len(self.body) > limit else "")


@dataclass(frozen=True)
class HttpClient:
    tls: TlsConfig
    log: Logger
    headers: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.tls.ca_cert_path if self.tls.ca_cert_path else None)
        if self.tls.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.tls.node_cert_path and self.tls.node_key_path:
            context.load_cert_chain(self.tls.node_cert_path, self.tls.node_key_path)
        return context

    def ssl_context(self) -> ssl.SSLContext:
        try:
            return self._context
        except (OSError, ssl.SSLError) as err:
            raise TransportError(
                f"TLS set-up failed: cannot load CA/cert/key ({getattr(err, 'strerror', None) or err})",
                cause="TLS set-up failed",
            ) from None

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        parts = urlsplit(url)
        host = parts.hostname or ""
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers, **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            if self.tls.insecure_skip_verify:
                self.log.warn(
                    "TLS verification disabled (tls.insecure_skip_verify); the peer is not authenticated", url=url
                )
            connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=self.ssl_context())
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        try:
            connection.request(method, path, body=payload, headers=all_headers)
            reply = connection.getresponse()
            data = reply.read(MAX_BODY)
            return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, data, url)
        except ssl.SSLCertVerificationError as err:
            raise TransportError(
                f"{method} {url}: TLS verification failed against CA {self._ca_subject()}: {err.verify_message}",
                cause="TLS verification failed",
            ) from None
        except ssl.SSLError as err:
            raise TransportError(f"{method} {url}: TLS error: {err.reason}", cause="TLS error") from None
        except ConnectionRefusedError:
            raise TransportError(f"{method} {url}: connection refused", cause="connection refused") from None
        except TimeoutError:
            raise TransportError(f"{method} {url}: timed out after {timeout:.1f}s", cause="timed out") from None
        except socket.gaierror as err:
            raise TransportError(
                f"{method} {url}: name resolution failed: {err.strerror}", cause="name resolution failed"
            ) from None
        except (OSError, http.client.HTTPException) as err:
            detail = getattr(err, "strerror", None) or type(err).__name__
            raise TransportError(f"{method} {url}: connection error: {detail}", cause="connection error") from None
        finally:
            connection.close()

    def _ca_subject(self) -> str:
        if not self.tls.ca_cert_path:
            return "(system trust store)"
        try:
            from cryptography import x509

            with open(self.tls.ca_cert_path, "rb") as handle:
                cert = x509.load_pem_x509_certificate(handle.read())
            return f"'{cert.subject.rfc4514_string()}' ({self.tls.ca_cert_path})"
        except (OSError, ValueError):
            return self.tls.ca_cert_path
