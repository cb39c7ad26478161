"""The relay protocol of rootless dials, on the host's own network (no namespace needed): the
first bytes a server sends (an SSH banner) reach the client intact, half-closes pass through,
refusals are GuestUnreachable, a dead relay is an InfrastructureError, and the relay exits when
the harness that started it (its stdin) is gone."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from harness.errors import GuestUnreachable, InfrastructureError, UsageError
from harness.network.userns import RELAY, UserNetns, connect_in_userns


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[UserNetns]:
    path = tmp_path / "relay.sock"
    proc = subprocess.Popen([sys.executable, "-I", str(RELAY), str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    try:
        yield cast(UserNetns, SimpleNamespace(name="fbunit-1-abcdef", relay_socket=path, proc=proc))
    finally:
        proc.kill()
        proc.wait(timeout=5)


def banner_echo_server() -> tuple[int, threading.Thread]:
    """Sends a banner at once (as sshd does, before the client says anything), then echoes
    until the client half-closes, then closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.sendall(b"SSH-2.0-banner\r\n")
            while data := conn.recv(4096):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_banner_echo_and_half_close_pass_through(relay: UserNetns) -> None:
    port, thread = banner_echo_server()
    sock = connect_in_userns(relay, "127.0.0.1", port, 3.0)
    with sock:
        assert sock.gettimeout() == 3.0
        assert sock.recv(100) == b"SSH-2.0-banner\r\n", "the reply line must not swallow the server's first bytes"
        sock.sendall(b"x" * 100_000)
        got = b""
        while len(got) < 100_000:
            got += sock.recv(65536)
        assert got == b"x" * 100_000
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(10) == b"", "the server's close reaches the client"
    thread.join(5)


def test_refused_is_guest_unreachable(relay: UserNetns) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(GuestUnreachable, match=rf"connect to 127.0.0.1:{port} in fbunit-1-abcdef: .*\(refused\)"):
        connect_in_userns(relay, "127.0.0.1", port, 2.0)


def test_bad_address_and_dead_relay(relay: UserNetns, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        connect_in_userns(relay, "127.0.0.1 22", 22, 1.0)
    gone = cast(UserNetns, SimpleNamespace(name="fbunit-1-abcdef", relay_socket=tmp_path / "nothing.sock"))
    with pytest.raises(InfrastructureError, match="is not answering.*torn down"):
        connect_in_userns(gone, "127.0.0.1", 22, 1.0)


def test_relay_exits_when_its_stdin_closes(relay: UserNetns) -> None:
    proc = cast(subprocess.Popen[bytes], relay.proc)  # type: ignore[attr-defined]
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=5) == 0
