"""Test bodies that must run as an unprivileged user (no CAP_NET_ADMIN, no /run/netns): the
pytest process (root in CI) starts this script as `nobody` through `setpriv`, and asserts on
its exit code and on the JSON report it prints last. Run directly when already unprivileged.

    python unprivileged_body.py fabric PREFIX
    python unprivileged_body.py sweep PREFIX
    python unprivileged_body.py modes
    python unprivileged_body.py vm PREFIX KERNEL INITRD   (the VM tier's: QEMU, minutes)

Each body is multithreaded on purpose (idle threads started first), as the harness is: that is
what forbids setns(2) into a user namespace and so what the relay design is for.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.errors import GuestUnreachable, InfrastructureError
from harness.network import Fabric
from harness.network.netns import alive
from harness.network.userns import select_mode, sweep_stale_userns

CLONE_NEWUSER = 0x10000000
TAP_ATTACH = """
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
# TUNSETIFF with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR: what QEMU asks for an existing tap.
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000))
print("attached", flush=True)
time.sleep(1000)
"""
STOP = threading.Event()
WORKDIR = os.environ.get("TMPDIR", "/tmp")  # http.server serves its cwd: one nobody can read


def multithreaded(count: int = 3) -> None:
    for i in range(count):
        threading.Thread(target=STOP.wait, name=f"idle-{i}", daemon=True).start()
    assert threading.active_count() > count, "the body must be multithreaded, like the harness"


def http_get(dial: Callable[[str, int, float], socket.socket], host: str, port: int, timeout: float = 3.0) -> int:
    """Status code of `GET /` through `dial` (a SocketFactory)."""
    with dial(host, port, timeout) as sock:
        sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def eventually(what: str, probe: Callable[[], object], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except (GuestUnreachable, OSError) as err:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout:g} s: {err}") from err
            time.sleep(0.2)


def http_server(prefix: tuple[str, ...], address: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # argv list, no shell
        [*prefix, sys.executable, "-m", "http.server", "--bind", address, str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=WORKDIR,
    )  # fmt: skip


def fabric_body(prefix: str) -> dict[str, Any]:
    multithreaded()
    report: dict[str, Any] = {"uid": os.getuid(), "mode": select_mode()}
    assert report["uid"] != 0 and report["mode"] == "rootless", report
    fabric = Fabric(["node01", "node02"], prefix=prefix)
    with fabric:
        ns = fabric.userns
        assert ns is not None and fabric.mode == "rootless"
        report.update(name=fabric.name, holder=ns.pid, user_ns=list(ns.user_ns), runtime_dir=str(ns.runtime_dir))

        # The constraint behind the design, measured: this (multithreaded) process may not setns.
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/proc/{ns.pid}/ns/user", os.O_RDONLY)
        try:
            refused = libc.setns(fd, CLONE_NEWUSER) != 0 and ctypes.get_errno() == errno.EINVAL
        finally:
            os.close(fd)
        assert refused, "setns(2) into the user namespace should fail with EINVAL when multithreaded"
        report["setns_refused"] = True

        links = fabric.ip("-o", "link", "show")
        for tap in ("tap1", "tap2"):
            assert f" {tap}:" in links and "master br0" in links.split(f" {tap}:", 1)[1].split("\n", 1)[0], links
        assert "10.77.0.1/24" in fabric.ip("-o", "addr", "show", "dev", "br0")
        assert fabric.ports == {"node01": "tap1", "node02": "tap2"}

        # Attach to tap2 as QEMU's `-netdev tap,ifname=tap2` does (TUNSETIFF on /dev/net/tun,
        # as uid 0 of the namespace): the carrier comes up. No QEMU is started by this tier.
        attach = fabric.spawn([sys.executable, "-c", TAP_ATTACH, "tap2"], stdout=subprocess.PIPE)
        assert attach.stdout is not None and attach.stdout.readline() == b"attached\n"
        assert "LOWER_UP" in fabric.ip("-o", "link", "show", "dev", "tap2")
        assert "LOWER_UP" not in fabric.ip("-o", "link", "show", "dev", "tap1")
        report["tap_attached"] = True

        fabric.add_veth_host("svc", "10.77.0.2/24")
        # Started behind the fabric's back: teardown must kill it all the same.
        behind = http_server(fabric.host_prefix("svc"), "10.77.0.2", 8080)
        fabric.spawn([sys.executable, "-m", "http.server", "--bind", "10.77.0.1", "8081"], cwd=WORKDIR,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        assert eventually("GET svc", lambda: http_get(fabric.connect, "10.77.0.2", 8080)) == 200
        assert eventually("GET bridge address", lambda: http_get(fabric.connect, "10.77.0.1", 8081)) == 200

        # Many dials at once from many threads: each is its own relay connection.
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: http_get(fabric.connect, "10.77.0.2", 8080), range(16)))
        assert codes == [200] * 16, codes

        fabric.block("node01")  # another port: svc stays reachable
        assert http_get(fabric.connect, "10.77.0.2", 8080) == 200
        established = fabric.connect("10.77.0.2", 8080, 3.0)
        fabric.block("svc")
        begin = time.monotonic()
        try:
            fabric.connect("10.77.0.2", 8080, 1.5)
        except GuestUnreachable as err:
            report["blocked_connect"] = f"{time.monotonic() - begin:.1f} s: {err}"
        else:
            raise AssertionError("connect to a blocked host succeeded")
        established.sendall(b"GET / HTTP/1.0\r\n\r\n")
        established.settimeout(1.5)
        try:
            got = established.recv(100)
        except TimeoutError:
            report["established_cut"] = True
        else:
            raise AssertionError(f"an established connection through a blocked port answered: {got!r}")
        finally:
            established.close()
        assert http_get(fabric.connect, "10.77.0.1", 8081) == 200, "the block is svc's port only"
        ruleset = fabric.exec(["nft", "list", "ruleset"]).stdout
        assert "table bridge fba_faults" in ruleset and '"vh3"' in ruleset, ruleset

        fabric.unblock("svc")
        fabric.unblock("node01")
        assert http_get(fabric.connect, "10.77.0.2", 8080) == 200
        assert "fba_faults" not in fabric.exec(["nft", "list", "ruleset"]).stdout
        report["inside_before_teardown"] = len(ns.pids())

    assert not fabric.is_up
    assert ns.pids() == [], f"left inside after teardown: {ns.pids()}"
    assert behind.poll() is not None and not alive(ns.pid)
    assert not Path(report["runtime_dir"]).exists()
    try:
        fabric.connect("10.77.0.2", 8080, 1.0)
    except InfrastructureError as err:
        report["after_teardown"] = str(err)
    else:
        raise AssertionError("dialled into a torn-down fabric")
    return report


def creator_body(prefix: str) -> None:
    """A run that gets SIGKILLed: prints what it made, then waits to die."""
    multithreaded()
    fabric = Fabric(["node01"], prefix=prefix)
    fabric.up()
    sleeper = fabric.spawn(["sleep", "1000"])
    ns = fabric.userns
    assert ns is not None
    print(json.dumps({"name": fabric.name, "sleeper": sleeper.pid, "user_ns": list(ns.user_ns),
                      "runtime_dir": str(ns.runtime_dir)}), flush=True)  # fmt: skip
    time.sleep(1000)


def sweep_body(prefix: str) -> dict[str, Any]:
    multithreaded()
    creator = subprocess.Popen([sys.executable, __file__, "creator", prefix], stdout=subprocess.PIPE)
    assert creator.stdout is not None
    made = json.loads(creator.stdout.readline())
    creator.kill()
    creator.wait(timeout=10)
    time.sleep(0.3)
    # The holder and relay end with their creator (EOF on its pipes); what the run started inside
    # keeps the namespace: that is what the sweep is for.
    assert alive(made["sleeper"]), "the sleeper should outlive its SIGKILLed creator"
    assert sweep_stale_userns("other") == [], "another prefix is not ours to sweep"
    swept = sweep_stale_userns(prefix)
    assert swept == [made["name"]], swept
    assert not alive(made["sleeper"])
    assert not Path(made["runtime_dir"]).exists()
    return {**made, "swept": swept}


def modes_body() -> dict[str, Any]:
    multithreaded()
    try:
        select_mode("root")
    except InfrastructureError as err:
        forced = str(err)
    else:
        raise AssertionError("root mode was granted to an unprivileged user")
    assert "needs euid 0" in forced and "\n" not in forced
    return {"auto": select_mode(), "forced_root": forced}


def vm_body(prefix: str, kernel: str, initrd: str) -> dict[str, Any]:
    """One busybox guest in the user namespace: QEMU started through the nsenter prefix on a
    tap of the rootless bridge, its console and QMP (sockets in our own state dir), a crash,
    and a teardown that leaves nothing. TCG: an unprivileged user outside group kvm cannot
    open /dev/kvm (a member can, `--preserve-credentials` keeps the group)."""
    from harness.machine.config import NodeConfig
    from harness.machine.node import Node
    from harness.machine.qemu import DirectBoot, TapNic

    multithreaded()
    report: dict[str, Any] = {"uid": os.getuid(), "mode": select_mode()}
    state = Path(os.environ["TMPDIR"]) / "node01"
    with Fabric(["node01"], prefix=prefix) as fabric:
        ns = fabric.userns
        assert ns is not None and fabric.mode == "rootless"
        report.update(user_ns=list(ns.user_ns), runtime_dir=str(ns.runtime_dir))
        cfg = NodeConfig(
            name="node01", state_dir=state, memory_mb=256,
            boot=DirectBoot(Path(kernel), Path(initrd), "rdinit=/init quiet"),
            tap=TapNic(fabric.port("node01"), "52:54:00:77:00:11"), launch_prefix=fabric.exec_prefix,
        )  # fmt: skip
        node = Node(cfg, link=fabric, sock_factory=fabric.connect)
        begin = time.monotonic()
        node.start()
        node.wait_for_console_text(r"BUSYBOX-READY", timeout=180)
        report["boot_s"] = round(time.monotonic() - begin, 1)
        pid = node.pid
        assert pid is not None
        report["qemu_in_userns"] = list(_user_ns_of(pid)) == report["user_ns"]
        node.send_console("echo hello-$((6*7))\n")
        node.wait_for_console_text(r"hello-42", timeout=60)
        node.qmp.stop()
        report["paused"] = node.qmp.query_status()["status"]
        node.qmp.cont()
        report["monitor"] = node.send_monitor_command("info status").strip()
        node.crash()
        report["qemu_gone"] = not Path(f"/proc/{pid}").exists()
        report["console_kept"] = "BUSYBOX-READY" in node.get_console_log()
    report["teardown_s"] = fabric.teardown_seconds
    return report


def _user_ns_of(pid: int) -> tuple[int, int]:
    st = os.stat(f"/proc/{pid}/ns/user")
    return st.st_dev, st.st_ino


def main() -> None:
    what = sys.argv[1]
    if what == "creator":
        creator_body(sys.argv[2])
        return
    bodies: dict[str, Callable[[], dict[str, Any]]] = {
        "fabric": lambda: fabric_body(sys.argv[2]),
        "sweep": lambda: sweep_body(sys.argv[2]),
        "modes": modes_body,
        "vm": lambda: vm_body(sys.argv[2], sys.argv[3], sys.argv[4]),
    }
    print(json.dumps(bodies[what]()), flush=True)
    STOP.set()


if __name__ == "__main__":
    main()
