"""Fabric: namespaces, bridge, taps; teardown on exit, on error, on SIGTERM; stale sweep;
partitions enforced and healed between veth hosts on the bridge."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, AnyStr

import pytest

from harness.network import Fabric, sweep_stale
from harness.network.ledger import cut, isolate
from harness.network.netns import NETNS_DIR, alive, delete_netns, list_netns
from harness.waits import Observation, wait_until

PREFIX = f"fbit{os.getpid() % 10000}"
REPO = Path(__file__).resolve().parents[3]


def ours() -> list[str]:
    return [n for n in list_netns() if n.startswith(PREFIX + "-")]


def first_line(stream: IO[AnyStr] | None, what: str, timeout: float = 15.0) -> AnyStr:
    """The first line a child writes, within `timeout`: its readiness signal. A bare
    `readline()` would wait for ever on a child that hangs before printing."""
    assert stream is not None, f"{what}: stdout is not a pipe"
    # The buffer is empty before the first read, so the descriptor's readiness is the truth.
    readable, _, _ = select.select([stream], [], [], timeout)
    if not readable:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    line = stream.readline()
    if not line:
        raise AssertionError(f"{what}: the child closed its stdout (exited) without a line")
    return line


def in_namespace(pid: int, name: str) -> Callable[[float], Observation]:
    """Predicate: process `pid` has entered namespace `name` (same nsfs inode), which is what
    `ip netns pids` and so the fabric's teardown look at."""
    want = os.stat(NETNS_DIR / name).st_ino

    def look(_left: float) -> Observation:
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError as err:
            return Observation(ok=False, detail=f"/proc/{pid}/ns/net: {err.strerror}")
        return Observation(ok=ino == want, detail=f"net namespace inode {ino}, want {want}")

    return look


def test_up_creates_bridge_and_taps_and_down_removes_everything() -> None:
    with Fabric(["node01", "node02", "node03"], prefix=PREFIX) as fabric:
        assert fabric.name in list_netns()
        links = fabric.ip("-o", "link", "show")
        for port in ("br0", "tap1", "tap2", "tap3"):
            assert f" {port}:" in links or f" {port}@" in links
        assert "10.77.0.1/24" in fabric.ip("-o", "addr", "show", "dev", "br0")
        assert fabric.port("node02") == "tap2"
        sleeper = fabric.spawn(["sleep", "1000"])
    assert ours() == []
    assert sleeper.poll() is not None
    assert fabric.teardown_seconds is not None and fabric.teardown_seconds < 10


def test_teardown_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), Fabric(["n1"], prefix=PREFIX) as fabric:
        proc = fabric.spawn(["sleep", "1000"])
        raise RuntimeError("boom")
    assert ours() == [] and proc.poll() is not None


def test_processes_started_outside_spawn_are_killed_too() -> None:
    with Fabric(prefix=PREFIX) as fabric:
        # Started with a bare `ip netns exec`, not tracked by the fabric.
        proc = subprocess.Popen([*fabric.exec_prefix, "sleep", "1000"])
        # Teardown finds processes by namespace: the test means something only once it is inside.
        wait_until(in_namespace(proc.pid, fabric.name), what=f"pid {proc.pid} inside {fabric.name}", timeout=10)
    proc.wait(timeout=5)
    assert ours() == []


CHILD = textwrap.dedent(
    """
    import sys, time
    from harness.network import Fabric
    fabric = Fabric(["node01"], prefix=sys.argv[1]).__enter__()
    proc = fabric.spawn(["sleep", "1000"])
    print(fabric.name, proc.pid, flush=True)
    # Not a synchronisation: the child just stays alive (at most 60 s, so a test that dies
    # without killing it leaves nothing for long) until the test signals or kills it.
    for _ in range(600):
        time.sleep(0.1)
    """
)

ChildStarter = Callable[[], tuple[subprocess.Popen[str], str, int]]


@pytest.fixture
def start_child() -> Iterator[ChildStarter]:
    """Start a child run with a fabric; at teardown, even when the test failed, kill what is
    left of it and delete its namespace (idempotent: most tests already made it go away)."""
    started: list[tuple[subprocess.Popen[str], str]] = []

    def start() -> tuple[subprocess.Popen[str], str, int]:
        child = subprocess.Popen([sys.executable, "-c", CHILD, PREFIX], cwd=REPO, stdout=subprocess.PIPE, text=True)
        started.append((child, ""))
        name, pid = first_line(child.stdout, "the child's fabric (its 'NAMESPACE PID' line)").split()
        started[-1] = (child, name)
        return child, name, int(pid)

    yield start
    for child, name in started:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
        if name:
            delete_netns(name)


def test_sigterm_to_a_child_run_tears_down(start_child: ChildStarter) -> None:
    child, name, sleeper = start_child()
    assert (NETNS_DIR / name).exists() and alive(sleeper)
    begin = time.monotonic()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=15) == -signal.SIGTERM
    assert time.monotonic() - begin < 10
    assert not (NETNS_DIR / name).exists()
    assert not alive(sleeper)


def test_sigint_to_a_child_run_tears_down(start_child: ChildStarter) -> None:
    child, name, sleeper = start_child()
    child.send_signal(signal.SIGINT)
    child.wait(timeout=15)
    assert not (NETNS_DIR / name).exists() and not alive(sleeper)


def test_sweep_stale_removes_namespaces_of_killed_runs(start_child: ChildStarter) -> None:
    child, name, sleeper = start_child()
    child.kill()  # SIGKILL: no handler runs, the namespace stays behind
    child.wait(timeout=5)
    assert (NETNS_DIR / name).exists()
    with Fabric(prefix=PREFIX) as live:  # a live run of this process must survive the sweep
        removed = sweep_stale(PREFIX)
        assert live.name in list_netns()
    assert name in removed
    assert not (NETNS_DIR / name).exists() and not alive(sleeper)
    assert ours() == []


def ping(fabric: Fabric, src: str, dst_ip: str) -> bool:
    res = subprocess.run(
        ["ip", "netns", "exec", fabric.hosts[src], "busybox", "ping", "-c", "1", "-W", "1", dst_ip],
        capture_output=True, timeout=10, check=False,
    )  # fmt: skip
    return res.returncode == 0


IPS = {"h1": "10.77.0.21", "h2": "10.77.0.22", "h3": "10.77.0.23"}


def mesh(fabric: Fabric) -> dict[tuple[str, str], bool]:
    return {(a, b): ping(fabric, a, IPS[b]) for a in IPS for b in IPS if a < b}


def test_partition_is_enforced_and_healed() -> None:
    with Fabric(prefix=PREFIX) as fabric:
        for host, ip in IPS.items():
            fabric.add_veth_host(host, f"{ip}/24")
        assert all(mesh(fabric).values())
        key = fabric.faults.add(isolate("h3", list(fabric.ports)))
        assert mesh(fabric) == {("h1", "h2"): True, ("h1", "h3"): False, ("h2", "h3"): False}
        assert ping(fabric, "h3", "10.77.0.1")  # the host side is not part of a partition
        assert fabric.faults.remove(key)
        assert not fabric.faults.remove(key)  # idempotent
        assert all(mesh(fabric).values())
        fabric.block("h1")
        assert mesh(fabric) == {("h1", "h2"): False, ("h1", "h3"): False, ("h2", "h3"): True}
        assert not ping(fabric, "h1", "10.77.0.1")  # blocked also from the bridge address
        fabric.unblock("h1")
        assert all(mesh(fabric).values())
    assert ours() == []


UDP_RECV = (
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    "s.bind(('0.0.0.0', 9999)); print('bound', flush=True); s.settimeout(2)\n"
    "try:\n    print(s.recv(64).decode())\nexcept TimeoutError:\n    print('nothing')"
)


def udp(fabric: Fabric, src: str, dst: str) -> bool:
    """True if a datagram from `src` reaches `dst`. The receiver's 2 s recv timeout is the
    verdict "nothing came" for a cut direction, not a synchronisation."""
    recv = subprocess.Popen(["ip", "netns", "exec", fabric.hosts[dst], sys.executable, "-c", UDP_RECV],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # Send only once the receiver is bound, or a datagram sent before would be lost.
        assert first_line(recv.stdout, f"the UDP receiver on {dst} to bind") == "bound\n"
        send = f"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hi', ('{IPS[dst]}', 9999))"
        for _ in range(3):
            subprocess.run(["ip", "netns", "exec", fabric.hosts[src], sys.executable, "-c", send],
                           timeout=10, check=True)  # fmt: skip
        out, _ = recv.communicate(timeout=10)
    finally:
        if recv.poll() is None:
            recv.kill()
        recv.wait(timeout=10)
    return out.strip() == "hi"


def test_one_way_cut_drops_only_one_direction() -> None:
    with Fabric(prefix=PREFIX) as fabric:
        for host in ("h1", "h2"):
            fabric.add_veth_host(host, f"{IPS[host]}/24")
        assert ping(fabric, "h1", IPS["h2"])  # ARP caches warm in both directions
        assert ping(fabric, "h2", IPS["h1"])
        key = fabric.faults.add(cut(["h1"], ["h2"]))
        assert not udp(fabric, "h1", "h2")
        assert udp(fabric, "h2", "h1")
        fabric.faults.remove(key)
        assert udp(fabric, "h1", "h2")


def test_connect_dials_into_the_namespace_loopback() -> None:
    server = (
        "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
        "print(s.getsockname()[1], flush=True); c, _ = s.accept(); c.sendall(b'inside'); c.close()"
    )
    with Fabric(prefix=PREFIX) as fabric:
        proc = fabric.spawn([sys.executable, "-c", server], stdout=subprocess.PIPE)
        port = int(first_line(proc.stdout, "the server inside the namespace to listen (its port line)"))
        with pytest.raises(OSError):  # not reachable from the host's own loopback
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sock = fabric.connect("127.0.0.1", port, 5)
        assert sock.recv(16) == b"inside"
        sock.close()
