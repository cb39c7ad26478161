"""Peers that misbehave below HTTP: they trickle, stall, reset, or never accept.

`FakeServer` (fakes.py) answers whole HTTP messages; these speak raw TCP so a test can hold a
connection in one phase (connect, TLS handshake, headers, body) for as long as it likes. Each
accepted connection gets the next `Behaviour` of the script (then the last one again). Every
wait is on the peer's stop event, so closing it never waits for a behaviour to finish.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .fakes import LOOPBACK

Behaviour = Callable[[socket.socket, threading.Event], None]
REQUEST_LIMIT = 64 * 1024


def read_request(conn: socket.socket, stop: threading.Event) -> bytes:
    """Read one request's head (and body, by Content-Length); bounded in bytes and time."""
    conn.settimeout(0.1)
    data = b""
    for _ in range(600):  # 60 s at most
        if stop.is_set() or len(data) > REQUEST_LIMIT:
            break
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if len(rest) >= length:
                break
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return data


def _drip(conn: socket.socket, data: bytes, every_s: float, stop: threading.Event) -> None:
    for i in range(len(data)):
        try:
            conn.sendall(data[i : i + 1])
        except OSError:
            return
        if stop.wait(every_s):
            return


def answer(status: int, body: bytes = b"{}", headers: Sequence[tuple[str, str]] = ()) -> Behaviour:
    """A whole, ordinary answer (Connection: close)."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
        conn.sendall(head.encode() + body)

    return behave


def trickle_body(body_len: int = 45, every_s: float = 1.0) -> Behaviour:
    """Whole headers at once, then the body one byte per `every_s` (the shared `trickle` case)."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n".encode()
        )
        _drip(conn, b" " * body_len, every_s, stop)

    return behave


def trickle_headers(every_s: float = 0.5) -> Behaviour:
    """The status line and headers one byte per `every_s`: each recv gets a byte, none the end."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        _drip(conn, b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"a" * 400 + b"\r\n\r\n", every_s, stop)

    return behave


def trickle_chunked(every_s: float = 0.3) -> Behaviour:
    """A chunked body of one-byte chunks, one per `every_s`, never ending (no Content-Length to
    bound it: only a whole-request deadline does)."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10_000):
            try:
                conn.sendall(b"1\r\n \r\n")
            except OSError:
                return
            if stop.wait(every_s):
                return

    return behave


def truncated(declared: int = 100, sent: bytes = b'{"members": [') -> Behaviour:
    """Headers promise `declared` bytes; the peer sends fewer, then closes (IncompleteRead)."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        conn.sendall(head.encode() + sent)

    return behave


def silent() -> Behaviour:
    """Accept, read the request (or the TLS ClientHello), then say nothing until closed."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        stop.wait(60)

    return behave


def reset() -> Behaviour:
    """Read the request, then drop the connection with a TCP RST (SO_LINGER 0)."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return behave


@dataclass
class _State:
    script: list[Behaviour]
    used: int = 0


class RawPeer:
    """A TCP listener on 127.0.0.x whose connections follow a script of behaviours."""

    def __init__(self, *script: Behaviour, host: str = LOOPBACK, accept: bool = True) -> None:
        self.stop = threading.Event()
        self._state = _State(list(script))
        self._lock = threading.Lock()
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind((host, 0))
        self.host, self.port = host, int(self._sock.getsockname()[1])
        self._fillers: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        if accept:
            self._sock.listen(16)
            self._sock.settimeout(0.05)
            self._spawn(self._accept_loop)
        else:
            self._stall_connects()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def play(self, *script: Behaviour) -> None:
        """Replace the script (before any connection): for answers that must name this peer's
        own URL, e.g. a member list whose `leader` is the peer itself."""
        with self._lock:
            self._state = _State(list(script))

    def _stall_connects(self) -> None:
        """Never accept, with a full backlog: the kernel drops new SYNs, so a connect hangs
        (on loopback, without leaving 127.0.0.0/8)."""
        self._sock.listen(0)
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect((self.host, self.port))
            except BlockingIOError:
                pass
            self._fillers.append(filler)

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        for _ in range(1_000_000):  # bounded by the stop event; the range is a backstop
            if self.stop.is_set():
                return
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                state = self._state
                behaviour = state.script[min(state.used, len(state.script) - 1)]
                state.used += 1
                self.connections += 1
            self._spawn(lambda c=conn, b=behaviour: self._serve(c, b))

    def _serve(self, conn: socket.socket, behaviour: Behaviour) -> None:
        try:
            behaviour(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._sock.close()
        for filler in self._fillers:
            filler.close()
        for thread in self._threads:
            thread.join(timeout=5)
