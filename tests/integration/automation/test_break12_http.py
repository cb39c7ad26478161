"""Break 12: interim 1xx answers before the final one (K2), and a name whose first address drops
connections (K15). The client is driven in-process against raw loopback peers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from automation.http import HttpClient, TransportError
from automation.log import Logger
from automation.spec.causes import Cause
from automation.spec.config import TlsConfig

from .rawpeers import Behaviour, RawPeer, read_request

PeerFactory = Callable[..., RawPeer]


@pytest.fixture
def raw_peer() -> Iterator[PeerFactory]:
    made: list[RawPeer] = []

    def make(*script: Behaviour, **kwargs: Any) -> RawPeer:
        peer = RawPeer(*script, **kwargs)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


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
