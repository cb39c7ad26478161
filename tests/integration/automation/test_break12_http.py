"""Break 12: interim 1xx answers before the final one (K2), and a name whose first address drops
connections (K15). The client is driven in-process against raw loopback peers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from automation.http import HttpClient, TransportError
from automation.log import Logger
from automation.spec.causes import Cause
from automation.spec.config import TlsConfig

from .conftest import PeerFactory
from .rawpeers import Behaviour, RawPeer, read_request


def _interim_then(interim: list[bytes], status: int = 200, body: bytes = b'{"ok": true}') -> Behaviour:
    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        for head in interim:
            conn.sendall(head)
        final = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.sendall(final.encode() + body)

    return behave


def _endless_interim(every_s: float) -> Behaviour:
    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, stop)
        for _ in range(1_000_000):
            try:
                conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")
            except OSError:
                return
            if stop.wait(every_s):
                return

    return behave


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"


@pytest.mark.parametrize(
    "interim",
    [
        [EARLY_HINTS],
        [b"HTTP/1.1 102 Processing\r\n\r\n"],
        [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 102 Processing\r\n\r\n", EARLY_HINTS, EARLY_HINTS],
        [b"HTTP/1.1 199 Whatever\r\nX-A: 1\r\nX-B: 2\r\n\r\n"],
    ],
    ids=["103", "102", "100-102-103-103", "199"],
)
@pytest.mark.parametrize("status", [200, 201, 404])
def test_interim_answers_are_skipped_and_the_final_one_read(
    raw_peer: PeerFactory, interim: list[bytes], status: int
) -> None:
    peer = raw_peer(_interim_then(interim, status))
    answer = HttpClient(TlsConfig(), Logger()).request("POST", f"{peer.url}/admin/members", body={}, timeout=5.0)
    assert answer.status == status
    assert answer.json() == {"ok": True}
    assert "link" not in answer.headers  # the hint's fields are not the answer's


@pytest.mark.parametrize("every_s", [0.0, 0.05])
def test_endless_interim_answers_end_by_the_request_deadline(raw_peer: PeerFactory, every_s: float) -> None:
    peer = raw_peer(_endless_interim(every_s))
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        HttpClient(TlsConfig(), Logger()).request("GET", f"{peer.url}/health", timeout=1.0)
    assert time.monotonic() - started < 3.0
    assert caught.value.cause is Cause.HEADERS_TIMEOUT


def test_101_is_still_a_final_answer(raw_peer: PeerFactory) -> None:
    peer = raw_peer(_interim_then([], 101, b""))
    answer = HttpClient(TlsConfig(), Logger()).request("GET", f"{peer.url}/health", timeout=2.0)
    assert answer.status == 101


def _ok() -> Behaviour:
    return _interim_then([])


@pytest.fixture
def name_for(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """`name_for(peer, ...)`: a host name that resolves to the peers' addresses (peers or
    `(host, port)`) in that order (a round-robin name, or an AAAA + A pair); other names
    resolve as before."""
    real = socket.getaddrinfo
    names: dict[str, list[tuple[str, int]]] = {}

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address) for address in names[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)

    def make(*peers: RawPeer | tuple[str, int]) -> str:
        name = f"leader{len(names)}.c1.test"
        names[name] = [p if isinstance(p, tuple) else (p.host, p.port) for p in peers]
        return name

    return make


def test_a_first_address_that_drops_connections_leaves_time_for_the_next(
    raw_peer: PeerFactory, name_for: Callable[..., str]
) -> None:
    dead, live = raw_peer(accept=False), raw_peer(_ok())
    name = name_for(dead, live)
    started = time.monotonic()
    answer = HttpClient(TlsConfig(), Logger()).request("GET", f"http://{name}:{live.port}/health", timeout=4.1)
    assert answer.status == 200
    assert time.monotonic() - started < 3.5  # its share (2.05 s), not the whole 4.1 s


def test_a_short_budget_still_reaches_the_second_address(raw_peer: PeerFactory, name_for: Callable[..., str]) -> None:
    """Under 4 s the 2 s least share would be all of it: the first address gets half at most."""
    name = name_for(raw_peer(accept=False), live := raw_peer(_ok()))
    answer = HttpClient(TlsConfig(), Logger()).request("GET", f"http://{name}:{live.port}/health", timeout=1.2)
    assert answer.status == 200


def test_every_address_dropping_connections_ends_by_the_deadline_as_a_connect_timeout(
    raw_peer: PeerFactory, name_for: Callable[..., str]
) -> None:
    name = name_for(raw_peer(accept=False), raw_peer(accept=False), raw_peer(accept=False))
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        HttpClient(TlsConfig(), Logger()).request("GET", f"http://{name}:2379/health", timeout=2.5)
    assert 2.3 < time.monotonic() - started < 3.5
    assert caught.value.cause is Cause.CONNECT_TIMEOUT


def test_a_dead_address_then_a_refusing_one_is_named_by_the_last(
    raw_peer: PeerFactory, name_for: Callable[..., str]
) -> None:
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))  # bound, never listening: a refusal
    port = refusing.getsockname()[1]
    try:
        name = name_for(raw_peer(accept=False), ("127.0.0.1", port))
        with pytest.raises(TransportError) as caught:
            HttpClient(TlsConfig(), Logger()).request("GET", f"http://{name}:2379/health", timeout=4.0)
        assert caught.value.cause is Cause.CONNECTION_REFUSED
    finally:
        refusing.close()
