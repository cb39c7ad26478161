"""Network namespace primitives: run `ip`/`nft` with deadlines, dial into a namespace,
kill what runs inside one, delete it, and sweep namespaces left by dead runs.

Names are `<prefix>-<pid>-<random>`: unique across pytest-xdist workers, and the pid tells
`sweep_stale` whether the run that made it is still alive.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from harness.errors import GuestUnreachable, InfrastructureError

__all__ = [
    "CMD_TIMEOUT",
    "NETNS_DIR",
    "ROOT_HINT",
    "connect_in_netns",
    "delete_netns",
    "kill_netns_pids",
    "list_netns",
    "netns_name",
    "run",
    "sweep_stale",
]

CMD_TIMEOUT = 10.0
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000


def netns_name(prefix: str = "fba", pid: int | None = None) -> str:
    """A fresh namespace name, `<prefix>-<pid>-<6 hex>` (max 32 chars is fine for ip)."""
    return f"{prefix}-{os.getpid() if pid is None else pid}-{secrets.token_hex(3)}"


ROOT_HINT = "the harness needs root (CAP_NET_ADMIN) for namespaces"
"""What a failed `ip`/`nft` most likely means on the root path; the rootless path says its own."""


def run(argv: Sequence[str], *, timeout: float = CMD_TIMEOUT, stdin: str | None = None,
        check: bool = True, hint: str = ROOT_HINT) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a host command with a deadline (no shell). `hint` ends the message of a failure.

    Raises:
        InfrastructureError: non-zero exit (with `check`), timeout, or missing binary.
    """
    try:
        result = subprocess.run(  # argv list, no shell
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InfrastructureError(f"`{' '.join(argv)}` could not run: {err}") from err
    if check and result.returncode != 0:
        raise InfrastructureError(
            f"`{' '.join(argv)}` failed (rc {result.returncode}): {result.stderr.strip()}; {hint}"
        )
    return result


def list_netns() -> list[str]:
    """Names of all named network namespaces (`ip netns list`)."""
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def kill_netns_pids(name: str, *, timeout: float = 5.0) -> int:
    """SIGKILL every process in namespace `name` and wait (bounded) until they are gone.

    Returns how many processes were killed.
    """
    pids = _netns_pids(name)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    remaining = pids
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if alive(pid)]
        if remaining:
            time.sleep(0.05)
    return len(pids)


def _netns_pids(name: str) -> list[int]:
    result = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in result.stdout.split() if p.isdigit()]


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (a zombie holds no namespace resources)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def delete_netns(name: str) -> list[int]:
    """Kill everything inside `name`, wait (bounded) until it is dead, then delete it
    (idempotent). The one way a namespace of the harness goes: `Fabric.teardown`,
    `sweep_stale` and `cluster-test down` all end here.

    Returns the pids still alive after SIGKILL and the wait (stuck in the kernel, D state);
    empty when everything died or there was no such namespace. The name is deleted either
    way, so the caller must report them: such a QEMU may still hold its disk.
    """
    if not (NETNS_DIR / name).exists():
        return []
    kill_netns_pids(name)
    # Asked again rather than remembered: the listing is the truth, whoever entered meanwhile.
    survivors = [pid for pid in _netns_pids(name) if alive(pid)]
    run(["ip", "netns", "del", name], check=False)
    return survivors


_NAME = re.compile(r"^(?P<prefix>.+)-(?P<pid>\d+)-[0-9a-f]{6}(?:-.*)?$")


def sweep_stale(prefix: str = "fba") -> list[str]:
    """Delete namespaces named by a run with `prefix` whose process is gone.

    Returns the names removed. Namespaces of live runs (other xdist workers) are kept.
    """
    removed = []
    for name in list_netns():
        match = _NAME.match(name)
        if match is None or match["prefix"] != prefix:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or alive(pid):
            continue
        delete_netns(name)
        removed.append(name)
    return removed


_libc = ctypes.CDLL(None, use_errno=True)


def connect_in_netns(name: str, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection made from inside namespace `name` (e.g. to its 127.0.0.1).

    Namespaces are per thread on Linux: a short-lived thread enters `name` with setns(2),
    connects, and exits; the socket keeps its namespace. No helper process is needed.

    Raises:
        InfrastructureError: the namespace cannot be entered (deleted?); cause kept.
        GuestUnreachable: nothing answered at host:port (refused, timed out): SSH waits retry
            on it, as on the OSError of `socket.create_connection`; cause kept.
    """
    box: dict[str, object] = {}

    def dial() -> None:
        try:
            fd = os.open(NETNS_DIR / name, os.O_RDONLY)
        except OSError as err:
            box["enter"] = err
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                box["enter"] = OSError(errno, f"setns({name}): {os.strerror(errno)}")
                return
            box["sock"] = socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            box["err"] = err
        finally:
            os.close(fd)

    thread = threading.Thread(target=dial, name=f"netns-dial-{name}", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    sock = box.get("sock")
    if isinstance(sock, socket.socket):
        return sock
    entering = box.get("enter")
    if isinstance(entering, OSError):
        raise InfrastructureError(
            f"connect to {host}:{port}: cannot enter namespace {name}: {entering}; was the fabric torn down?"
        ) from entering
    err = box.get("err")
    if isinstance(err, OSError):
        raise GuestUnreachable(f"connect to {host}:{port} in {name}: {err}") from err
    raise GuestUnreachable(f"connect to {host}:{port} in {name}: no answer in {timeout:g} s")
