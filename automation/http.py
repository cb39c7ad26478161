"""A small HTTP(S) client: one deadline per request, verified TLS, failures named by `Cause`.

`request(..., timeout=T)` gives the whole request (resolve, connect, TLS handshake, send,
headers, body) T seconds together (automation.transport); a timeout names the phase it hit.
What an answer means (later, never, ...) is decided by automation.retry, not here.

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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from automation import jsonload, regularfile
from automation.errors import ConfigError, FbaError
from automation.log import Logger
from automation.spec.causes import Cause
from automation.spec.config import TlsConfig
from automation.spec.urls import header_value_problem, host_problem, redacted, url_problem
from automation.transport import DeadlineConnection, Phase, PhaseTimeout

MAX_BODY = 1024 * 1024
USER_AGENT = "fba/0.1"

_PHASE_CAUSES = {
    Phase.RESOLVE: Cause.RESOLVE_TIMEOUT,
    Phase.CONNECT: Cause.CONNECT_TIMEOUT,
    Phase.TLS: Cause.TLS_HANDSHAKE_TIMEOUT,
    Phase.SEND: Cause.SEND_TIMEOUT,
    Phase.HEADERS: Cause.HEADERS_TIMEOUT,
    Phase.BODY: Cause.BODY_TIMEOUT,
}


class TransportError(FbaError):
    """No (whole) HTTP answer. `cause` names why, for timeouts the phase that ran out of time;
    the message names the method and URL."""

    def __init__(self, message: str, *, cause: Cause) -> None:
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
    monotonic: Callable[[], float] = time.monotonic

    @cached_property
    def _context(self) -> ssl.SSLContext:
        # OpenSSL opens these itself, blocking: a FIFO in a TLS file's place would hang the
        # step. Only regular files are handed over (NotARegularFile is an OSError, named below).
        for path in (self.tls.ca_cert_path, self.tls.node_cert_path, self.tls.node_key_path):
            if path:
                regularfile.check(path)
        # OpenSSL's errors ("PEM lib") do not say which file: each load names its own.
        ca = self.tls.ca_cert_path
        try:
            context = ssl.create_default_context(cafile=ca if ca else None)
        except ssl.SSLError as err:
            raise _Unloadable(f"{ca or 'the system CA bundle'}: {err.reason or err}") from err
        if self.tls.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.tls.node_cert_path and self.tls.node_key_path:
            try:
                context.load_cert_chain(self.tls.node_cert_path, self.tls.node_key_path)
            except ssl.SSLError as err:
                where = f"{self.tls.node_cert_path} with key {self.tls.node_key_path}"
                raise _Unloadable(f"{where}: {err.reason or err}") from err
        return context

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context, loaded once.

        Raises:
            TransportError: `TLS set-up failed`, a CA, certificate or key file that does not
                exist (yet: it may still be provisioned, so systemd's restart can heal it; exit 1).
            ConfigError: a file that exists but cannot be loaded (not PEM, a key that does not
                match, unreadable, not a regular file): invalid configuration, exit 3, which
                the units do not restart. It was exit 1, and systemd restarted a broken file
                until the start limit.
        """
        try:
            return self._context
        except FileNotFoundError as err:
            raise TransportError(f"TLS set-up failed: {_tls_detail(err)}", cause=Cause.TLS_SETUP) from err
        except _Unloadable as err:
            raise ConfigError(f"TLS set-up failed: cannot load {err}; fix the file or the tls.* settings") from err
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(f"TLS set-up failed: {_tls_detail(err)}; fix the file or the tls.* settings") from err

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """One request whose every phase (resolve, connect, TLS, send, headers, whole body) fits
        in `timeout` seconds together. Callers pass `Deadline.cap(request_timeout)`, so a request
        never outlives its step.

        Raises:
            TransportError: no whole answer; `cause` names the phase that timed out or failed.
        """
        problem = url_problem(url)
        if problem is not None:
            raise TransportError(f"{method} {redacted(url)}: {problem}", cause=Cause.UNUSABLE_URL)
        parts = urlsplit(url)
        host = parts.hostname or ""
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers, **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        for name, value in all_headers.items():
            unsendable = header_value_problem(value)
            if unsendable is not None:
                # Only our own values get here (tokens from files and the config, checked where
                # they are loaded too): a configuration error, never something to retry.
                raise ConfigError(f"{method} {url}: the {name} header cannot be sent: {unsendable}")
        context = None
        if parts.scheme == "https":
            if self.tls.insecure_skip_verify:
                self.log.warn(
                    "TLS verification disabled (tls.insecure_skip_verify); the peer is not authenticated", url=url
                )
            context = self.ssl_context()
        started = self.monotonic()
        connection = DeadlineConnection(
            host, parts.port, until=started + timeout, tls=context, monotonic=self.monotonic
        )
        where = f"{method} {url}"
        try:
            answer = connection.exchange(method, path, payload, all_headers, MAX_BODY)
        except PhaseTimeout as err:
            spent = self.monotonic() - started
            raise TransportError(
                f"{where}: {err.phase.value} timed out ({spent:.1f}s spent of the request's {timeout:.1f}s)",
                cause=_PHASE_CAUSES[err.phase],
            ) from err
        except ssl.SSLCertVerificationError as err:
            raise TransportError(
                f"{where}: TLS verification failed against CA {self._ca_subject()}: {err.verify_message}",
                cause=Cause.TLS_VERIFICATION,
            ) from err
        except ssl.SSLError as err:
            raise TransportError(f"{where}: TLS error: {err.reason}", cause=Cause.TLS_ERROR) from err
        except ConnectionRefusedError as err:
            raise TransportError(f"{where}: connection refused", cause=Cause.CONNECTION_REFUSED) from err
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as err:
            raise TransportError(
                f"{where}: connection reset by the peer during {connection.phase.value}", cause=Cause.CONNECTION_RESET
            ) from err
        except http.client.RemoteDisconnected as err:
            raise TransportError(
                f"{where}: the peer closed the connection without an answer", cause=Cause.CONNECTION_RESET
            ) from err
        except http.client.IncompleteRead as err:
            raise TransportError(
                f"{where}: the peer closed the connection mid-body ({len(err.partial)} bytes read)",
                cause=Cause.CONNECTION_RESET,
            ) from err
        except TimeoutError as err:  # a timeout outside our phases (should not happen); still named
            raise TransportError(
                f"{where}: {connection.phase.value} timed out", cause=_PHASE_CAUSES[connection.phase]
            ) from err
        except UnicodeError as err:
            # The resolver's and TLS's `idna` encoding of the host (`url_problem` refuses such
            # hosts first; this keeps any other path from ending a step with exit 70).
            problem = host_problem(host) or f"host name {host!a} cannot be looked up ({err})"
            raise TransportError(f"{where}: {problem}", cause=Cause.UNUSABLE_URL) from err
        except socket.gaierror as err:
            raise TransportError(
                f"{where}: name resolution failed: {err.strerror}", cause=Cause.NAME_RESOLUTION
            ) from err
        except (OSError, http.client.HTTPException) as err:
            detail = getattr(err, "strerror", None) or type(err).__name__
            raise TransportError(f"{where}: connection error: {detail}", cause=Cause.CONNECTION_ERROR) from err
        finally:
            connection.close()
        if len(answer.body) > MAX_BODY:
            raise TransportError(f"{where}: answer larger than {MAX_BODY} bytes", cause=Cause.ANSWER_TOO_LARGE)
        return Response(answer.status, answer.headers, answer.body, url)

    def _ca_subject(self) -> str:
        if not self.tls.ca_cert_path:
            return "(system trust store)"
        try:
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(regularfile.read(self.tls.ca_cert_path, MAX_BODY))
            return f"'{cert.subject.rfc4514_string()}' ({self.tls.ca_cert_path})"
        except (OSError, ValueError):
            return self.tls.ca_cert_path


def _tls_detail(err: OSError | ssl.SSLError) -> str:
    detail = getattr(err, "strerror", None) or str(err)
    if getattr(err, "filename", None):
        detail = f"{err.filename}: {detail}"
    return f"cannot load CA/cert/key ({detail})"


class _Unloadable(Exception):
    """A TLS file that exists but OpenSSL cannot load; the message names it."""
