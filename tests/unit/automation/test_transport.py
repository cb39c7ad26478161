"""The whole-request deadline below HTTP: name resolution is bounded too (urllib3#1334,
requests#4531: `getaddrinfo` has no timeout, so a stuck resolver outlived every timeout)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from automation.http import HttpClient, TransportError
from automation.log import Logger
from automation.spec.causes import Cause
from automation.spec.config import TlsConfig
from automation.transport import Phase, PhaseTimeout, resolve


@pytest.fixture
def stuck_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """getaddrinfo blocks until the test ends (as a resolver with dead nameservers does)."""
    release = threading.Event()

    def stuck(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    yield release
    release.set()


def test_resolve_gives_up_at_its_bound(stuck_resolver: threading.Event) -> None:
    with pytest.raises(PhaseTimeout) as caught:
        resolve("leader.example", 2379, 0.05)
    assert caught.value.phase is Phase.RESOLVE


def test_a_stuck_resolver_is_a_named_timeout_of_the_request(stuck_resolver: threading.Event) -> None:
    client = HttpClient(TlsConfig(), Logger())
    with pytest.raises(TransportError) as caught:
        client.request("GET", "http://leader.example:2379/admin/members", timeout=0.1)
    assert caught.value.cause is Cause.RESOLVE_TIMEOUT
    assert str(caught.value).startswith("GET http://leader.example:2379/admin/members: name resolution timed out")


def test_resolver_errors_keep_their_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fails)
    client = HttpClient(TlsConfig(), Logger())
    with pytest.raises(TransportError) as caught:
        client.request("GET", "http://nowhere.example/x", timeout=1.0)
    assert caught.value.cause is Cause.NAME_RESOLUTION
    assert isinstance(caught.value.__cause__, socket.gaierror)
