"""Fabric: namespaces, bridge, taps; teardown on exit, on error, on SIGTERM; stale sweep;
partitions enforced and healed between veth hosts on the bridge."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.network import Fabric, sweep_stale
from harness.network.ledger import cut, isolate
from harness.network.netns import NETNS_DIR, list_netns

PREFIX = f"fbit{os.getpid() % 10000}"
REPO = Path(__file__).resolve().parents[3]


def ours() -> list[str]:
    return [n for n in list_netns() if n.startswith(PREFIX + "-")]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


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
        time.sleep(0.2)
    proc.wait(timeout=5)
    assert ours() == []


CHILD = textwrap.dedent(
    """
    import sys, time
    from harness.network import Fabric
    fabric = Fabric(["node01"], prefix=sys.argv[1]).__enter__()
    proc = fabric.spawn(["sleep", "1000"])
    print(fabric.name, proc.pid, flush=True)
    for _ in range(600):
        time.sleep(0.1)
    """
)


def start_child() -> tuple[subprocess.Popen[str], str, int]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, PREFIX], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    name, pid = child.stdout.readline().split()
    return child, name, int(pid)


def test_sigterm_to_a_child_run_tears_down() -> None:
    child, name, sleeper = start_child()
    assert (NETNS_DIR / name).exists() and alive(sleeper)
    begin = time.monotonic()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=15) == -signal.SIGTERM
    assert time.monotonic() - begin < 10
    assert not (NETNS_DIR / name).exists()
    assert not alive(sleeper)


def test_sigint_to_a_child_run_tears_down() -> None:
    child, name, sleeper = start_child()
    child.send_signal(signal.SIGINT)
    child.wait(timeout=15)
    assert not (NETNS_DIR / name).exists() and not alive(sleeper)


def test_sweep_stale_removes_namespaces_of_killed_runs() -> None:
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
    "s.bind(('0.0.0.0', 9999)); s.settimeout(2)\n"
    "try:\n    print(s.recv(64).decode())\nexcept TimeoutError:\n    print('nothing')"
)


def udp(fabric: Fabric, src: str, dst: str) -> bool:
    recv = subprocess.Popen(["ip", "netns", "exec", fabric.hosts[dst], sys.executable, "-c", UDP_RECV],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(0.3)
    send = f"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hi', ('{IPS[dst]}', 9999))"
    for _ in range(3):
        subprocess.run(["ip", "netns", "exec", fabric.hosts[src], sys.executable, "-c", send],
                       timeout=10, check=True)  # fmt: skip
    out, _ = recv.communicate(timeout=10)
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
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with pytest.raises(OSError):  # not reachable from the host's own loopback
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sock = fabric.connect("127.0.0.1", port, 5)
        assert sock.recv(16) == b"inside"
        sock.close()
