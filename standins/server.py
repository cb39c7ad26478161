"""The HTTP layer: stdlib ThreadingHTTPServer, optional TLS, JSON in and out.

Handlers are plain functions of a `Request` returning a `Response`, so endpoint logic is
tested without sockets; this module only moves bytes. The TLS handshake runs in the
per-request thread (not in accept()), so one slow client cannot stall the listener.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from standins.config import TlsFiles
from standins.log import JsonLog

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Request:
    """One HTTP request, already read."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: empty or malformed body.
        """
        if not self.body:
            raise ValueError("empty body; send a JSON object")
        return json.loads(self.body)

    def segments(self) -> list[str]:
        return [unquote(s) for s in self.path.strip("/").split("/") if s]


@dataclass(frozen=True)
class Response:
    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


class App(Protocol):
    def handle(self, request: Request) -> Response: ...


def error(status: int, message: str, *headers: tuple[str, str], **extra: Any) -> Response:
    """A JSON error response `{"error": message, ...extra}`."""
    return Response(status, {"error": message, **extra}, tuple(headers))


def server_tls_context(tls: TlsFiles) -> ssl.SSLContext:
    """Server-side TLS: our cert, optional client-cert requirement against the CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(tls.cert), str(tls.key))
    if tls.ca is not None:
        ctx.load_verify_locations(str(tls.ca))
        ctx.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    return ctx


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    timeout = 15.0  # per-connection socket timeout: a silent client cannot pin a thread

    def _serve(self) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            response = error(413, f"body larger than {MAX_BODY} bytes")
        else:
            body = self.rfile.read(length) if length > 0 else b""
            request = Request(self.command, split.path, dict(parse_qsl(split.query)),
                              {k.lower(): v for k, v in self.headers.items()}, body)
            try:
                response = self.server.app.handle(request)
            except Exception as err:  # the daemon answers 500 and keeps serving
                self.server.log.error("handler crashed", path=split.path,
                                      error=type(err).__name__)
                response = error(500, f"internal error: {type(err).__name__}")
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        # Paths and statuses only: bodies and headers may hold passwords or tokens.
        self.server.log.info("http", method=self.command, path=split.path,
                             status=response.status,
                             ms=round((time.monotonic() - started) * 1000, 1))

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access lines go through JsonLog in _serve


class ApiServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that hands requests to an App, with optional TLS."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, app: App, log: JsonLog,
                 tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.log = log
        self._tls = tls
        super().__init__((host, port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self._tls is not None:
            try:
                request.settimeout(10.0)
                request = self._tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as err:
                self.log.warning("tls handshake failed", peer=str(client_address[0]),
                                 error=type(err).__name__)
                return
        super().finish_request(request, client_address)

    def start(self) -> threading.Thread:
        """Serve in a background thread; `shutdown()` stops it."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="http", daemon=True)
        thread.start()
        return thread


def port_is_free(host: str, port: int) -> bool:
    """Whether `host:port` can be bound right now (used by tests and benches)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
