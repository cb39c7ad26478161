"""One absolute deadline for a whole HTTP request: resolve, connect, TLS, send, headers, body.

Why not the libraries: `http.client`'s `timeout` (and `requests`'/`urllib3`'s read timeout)
bounds each socket operation, not the request, so a peer that sends one byte per second keeps
a "5 s" request alive for as long as it likes. urllib3's `Timeout(total=...)` bounds connect
plus each read, but not a body read in many small pieces (urllib3 issues #2101 and #3172 ask
for exactly this), and `getaddrinfo` is bounded by neither. So this module keeps
`http.client` for HTTP framing and gives it a socket whose every operation gets the time left
before one `until` instant; the phase in progress is recorded, so a timeout names it.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

AddrInfo = list[tuple[Any, Any, int, str, Any]]
# An address's least share of a request's connect time (Go's net.Dialer uses 2 s too), unless
# that is over half the time left: enough for a loaded peer's SYN-ACK, short enough that a dead
# first address leaves time for the next.
MIN_CONNECT_SHARE = 2.0


class Phase(StrEnum):
    RESOLVE = "name resolution"
    CONNECT = "connect"
    TLS = "TLS handshake"
    SEND = "send"
    HEADERS = "headers"
    BODY = "body"


class PhaseTimeout(TimeoutError):
    """The request's deadline passed during `phase`."""

    def __init__(self, phase: Phase) -> None:
        super().__init__(f"{phase.value} timed out")
        self.phase = phase


def resolve(host: str, port: int, seconds: float) -> AddrInfo:
    """`getaddrinfo` with a bound: the libc call has no timeout of ours, so it runs in a daemon
    thread we stop waiting for (it ends on its own at the resolver's timeout)."""
    result: list[AddrInfo] = []
    failure: list[BaseException] = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as err:  # handed to the caller's thread
            failure.append(err)

    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if failure:
        raise failure[0]
    if not result:
        raise PhaseTimeout(Phase.RESOLVE)
    return result[0]


class _Reader(io.RawIOBase):
    """What `HTTPResponse` reads from: every recv gets only the time left."""

    def __init__(self, owner: _Socket) -> None:
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        sock, conn = self._owner.sock, self._owner.conn
        sock.settimeout(conn.left())
        try:
            return sock.recv_into(buffer)
        except TimeoutError:
            raise PhaseTimeout(conn.phase) from None

    def close(self) -> None:
        if not self.closed:
            self._owner.release()
        super().close()


class _Socket:
    """The socket `http.client` sees: sendall and makefile, both under the deadline. Like a real
    socket's makefile, an open reader keeps it open after `close()` (http.client closes the
    connection before the body of a `Connection: close` answer is read)."""

    def __init__(self, sock: socket.socket, conn: DeadlineConnection) -> None:
        self.sock = sock
        self.conn = conn
        self._readers = 0
        self._closing = False

    def sendall(self, data: bytes) -> None:
        # Since Python 3.5 a socket timeout bounds the whole sendall, not each chunk.
        self.sock.settimeout(self.conn.left())
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise PhaseTimeout(Phase.SEND) from None

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_Reader(self))

    def release(self) -> None:
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self.sock.close()

    def close(self) -> None:
        self._closing = True
        if self._readers <= 0:
            self.sock.close()

    def abort(self) -> None:
        """Close now, readers or not (the request is over)."""
        self.sock.close()


class _FinalResponse(http.client.HTTPResponse):
    """An `HTTPResponse` that skips interim answers (1xx other than 101) and reads the final one.

    RFC 9110, 15.2: "A client MUST be able to parse one or more 1xx responses received prior to
    a final response, even if the client does not expect one". `http.client` skips only
    `100 Continue`; a proxy's `103 Early Hints` or a `102 Processing` was taken for the answer
    and every request failed (break 12, K2). A 101 ends the exchange (fba never asks for an
    upgrade, so it is an unexpected answer). The skipping is bounded by the request's deadline:
    every read of the socket gets only the time left, and each interim answer checks it too, so
    a peer sending 1xx forever ends the request as a headers timeout.
    """

    def __init__(self, sock: Any, debuglevel: int = 0, method: str | None = None, url: str | None = None) -> None:
        super().__init__(sock, debuglevel, method, url)
        self._deadline: DeadlineConnection | None = getattr(sock, "conn", None)

    def _read_status(self) -> tuple[str, int, str]:
        # http.client's one place that reads a status line (private, but unchanged since 3.0;
        # typeshed does not declare it, hence the ignore).
        read_status = super()._read_status  # type: ignore[misc]
        while True:
            version, status, reason = read_status()
            if not 100 < status < 200 or status == 101:  # 100: http.client skips it itself
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim answer's fields, dropped
            if self._deadline is not None:
                self._deadline.left()


class DeadlineConnection(http.client.HTTPConnection):
    """An `HTTPConnection` (or, with `tls`, HTTPS) that ends at `until` on `monotonic`'s clock."""

    response_class = _FinalResponse

    def __init__(
        self,
        host: str,
        port: int | None,
        *,
        until: float,
        tls: ssl.SSLContext | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        default_port = 443 if tls is not None else 80
        super().__init__(host, port or default_port)
        self.until = until
        self.tls = tls
        self.monotonic = monotonic
        self.phase = Phase.RESOLVE

    def left(self) -> float:
        """Seconds left; raises PhaseTimeout naming the phase once none are."""
        seconds = self.until - self.monotonic()
        if seconds <= 0:
            raise PhaseTimeout(self.phase)
        return seconds

    def connect(self) -> None:
        self.phase = Phase.RESOLVE
        infos = resolve(self.host, self.port, self.left())
        self.phase = Phase.CONNECT
        sock = self._connect_any(infos)
        if self.tls is not None:
            self.phase = Phase.TLS
            try:
                tls_sock = self.tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
                tls_sock.settimeout(self.left())
                tls_sock.do_handshake()
            except BaseException:
                sock.close()
                raise
            sock = tls_sock
        self.phase = Phase.SEND
        self.sock = _Socket(sock, self)

    def _connect_any(self, infos: AddrInfo) -> socket.socket:
        """A socket connected to the first of `infos` that accepts, each address in turn.

        Each address gets a share of the time left (as Go's `net.Dialer`: the time left over the
        addresses left, at least `MIN_CONNECT_SHARE`, but never more than half of it, so a short
        request budget still reaches a second address), and a timeout moves on to the next one
        like a refusal does: a name whose first address drops SYNs (a powered-off node, an AAAA
        record where IPv6 is firewalled) took the whole request budget, and the live address
        behind the same name was never tried (break 12, K15). The last address gets all that is
        left; the request's deadline still bounds the whole."""
        last: OSError | None = None
        for index, (family, kind, proto, _, address) in enumerate(infos):
            left = self.left()
            share = (
                left if index == len(infos) - 1 else max(left / (len(infos) - index), min(MIN_CONNECT_SHARE, left / 2))
            )
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(share)
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except TimeoutError:
                sock.close()
                last = PhaseTimeout(Phase.CONNECT)
            except OSError as err:
                sock.close()
                last = err
        raise last or OSError(f"no address for {self.host}")

    def exchange(self, method: str, path: str, body: bytes | None, headers: dict[str, str], limit: int) -> _Answer:
        """Send the request and read the whole answer, at most `limit` bytes of body."""
        self.request(method, path, body=body, headers=headers)
        raw = self.sock
        try:
            self.phase = Phase.HEADERS
            reply = self.getresponse()
            self.phase = Phase.BODY
            data = reply.read(limit + 1)
            if reply.length and len(data) <= limit:
                # read(amt) returns what came before EOF; Content-Length promised more.
                raise http.client.IncompleteRead(data, reply.length)
            reply.close()
            return _Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()}, data)
        finally:
            if isinstance(raw, _Socket):
                raw.abort()


class _Answer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
