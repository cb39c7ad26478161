"""Rootless network namespaces: a user + network namespace owned by a holder child.

The root path (`harness.network.netns`) names namespaces under /run/netns, runs commands with
`ip netns exec` and dials with setns(2) from a short-lived thread. An unprivileged user can do
none of that, but may create a user namespace and, inside it, a network namespace in which it
holds CAP_NET_ADMIN: a bridge, taps (/dev/net/tun is 0666 on Debian and NixOS) and
bridge-family nftables all work there.

Why every step is a separate process: setns(2) into a user namespace is refused (EINVAL) to a
multithreaded process, and the harness is multithreaded (node threads, paramiko). So:

- the *holder* (`unshare --user --map-root-user --net`, then `cat` on a pipe from us) creates
  the namespaces and keeps them alive; it exits when the harness does (EOF on that pipe);
- every command inside is started through `prefix`, `nsenter --user --net --target=<holder>
  --preserve-credentials` (without `--preserve-credentials` nsenter's setgroups(2) is refused:
  unshare -r wrote "deny" to setgroups), which execs in place: a Popen's pid is the process
  itself, so killing it kills QEMU, not a wrapper;
- the harness's own TCP connections go through a relay (`_relay.py`) running inside that
  listens on a unix socket in a private 0700 directory outside (`connect_in_userns`).

The holder is our child and is reaped only at teardown, so its pid cannot be reused by another
process while `--target=<pid>` may still be used: a dead holder is a zombie whose namespace
links are gone, and nsenter then fails instead of entering something else.

Everything started inside carries `FBA_USERNS=<name>` in its environment (set by `prefix`), and
names are `<prefix>-<pid>-<6 hex>` as on the root path, so `sweep_stale_userns` can find what a
SIGKILLed run left behind (no /run/netns entry exists to find it by).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from harness.errors import GuestUnreachable, InfrastructureError, UsageError
from harness.network.netns import _NAME, CMD_TIMEOUT, alive, netns_name, run

__all__ = [
    "MODE_ENV",
    "Mode",
    "ROOTLESS_HINT",
    "TAG_ENV",
    "UserNetns",
    "check_rootless",
    "connect_in_userns",
    "create_userns",
    "describe_pids",
    "search_path",
    "select_mode",
    "sweep_stale_userns",
]

Mode = Literal["root", "rootless"]
MODE_ENV = "FBA_NET_MODE"
"""`root`, `rootless` or `auto` (the default): which network path a run takes."""
TAG_ENV = "FBA_USERNS"
"""Environment variable naming the namespace a process was started in (for the stale sweep)."""
ROOTLESS_HINT = "rootless network: the command ran in the run's user namespace (uid 0 there)"
SYSCTL = Path("/proc/sys")
RELAY = Path(__file__).with_name("_relay.py")
READY_TIMEOUT = 10.0
# The holder prints once its namespaces exist (unshare has written the id maps by then), then
# blocks on the pipe from the harness until that closes.
HOLDER_SCRIPT = "echo ready; exec cat >/dev/null"
TOOLS = {"unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2", "nft": "nftables"}
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def search_path(path: str | None = None) -> str:
    """`path` (default $PATH) with the sbin directories appended where missing: Debian installs
    `nft` in /usr/sbin, which an unprivileged user's PATH lacks; root's PATH has it, so the
    root path never needed this. Commands inside the namespace are looked up with it."""
    dirs = (os.environ.get("PATH", os.defpath) if path is None else path).split(os.pathsep)
    return os.pathsep.join([*[d for d in dirs if d], *[d for d in SBIN if d not in dirs]])


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=search_path())


# -- mode selection -------------------------------------------------------------------------
def select_mode(force: str | None = None, *, euid: int | None = None, sysctl: Path = SYSCTL,
                which: Callable[[str], str | None] = _which) -> Mode:  # fmt: skip
    """Root or rootless network: `force`, else `$FBA_NET_MODE`, else root (auto).

    Auto is root for euid 0 and, for now, a refusal naming `FBA_NET_MODE=rootless` otherwise.

    Root keeps the /run/netns path unchanged; rootless is checked (`check_rootless`) so a host
    that cannot do it fails here, in one line that names the fix.

    Raises:
        UsageError: an unknown mode.
        InfrastructureError: root forced without euid 0, or rootless cannot work here.
    """
    wanted = force if force is not None else os.environ.get(MODE_ENV, "auto")
    uid = os.geteuid() if euid is None else euid
    if wanted not in ("auto", "root", "rootless"):
        raise UsageError(f"network mode {wanted!r}: expected root, rootless or auto (${MODE_ENV})")
    if wanted == "root" and uid != 0:
        raise InfrastructureError(
            f"network mode root needs euid 0 (running as uid {uid}); run as root or unset ${MODE_ENV}"
        )
    if wanted == "root" or (wanted == "auto" and uid == 0):
        return "root"
    if wanted == "auto":
        # Until QEMU, --keep/ssh/down and the VM smoke test are proven without root (docs:
        # "Rootless (in progress)"), an unprivileged run asks for the network it gets: a run
        # that fails halfway in an untested path is worse than this line.
        raise InfrastructureError(
            f"the harness needs root for its network namespace (running as uid {uid}); run as root, "
            f"or set {MODE_ENV}=rootless to try the rootless network (experimental)"
        )
    check_rootless(sysctl=sysctl, which=which)
    return "rootless"


def _sysctl(root: Path, key: str) -> str | None:
    try:
        return (root / key.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def check_rootless(*, sysctl: Path = SYSCTL, which: Callable[[str], str | None] = _which,
                   tun: Path = Path("/dev/net/tun")) -> None:  # fmt: skip
    """Fail early, in one line naming the setting to change, when a user namespace with a
    network namespace and taps cannot be made by this user. The real proof is `create_userns`;
    this catches the common refusals before anything starts.

    Raises:
        InfrastructureError: user namespaces disabled or restricted, a tool missing, or no
            read-write access to /dev/net/tun.
    """
    fixes = {
        # Debian's patch (default 1 since bookworm); absent on other kernels.
        "kernel.unprivileged_userns_clone": ("0", "1"),
        "user.max_user_namespaces": ("0", "15000"),
        # Ubuntu 23.10+: AppArmor lets unshare create the namespace but strips its capabilities.
        "kernel.apparmor_restrict_unprivileged_userns": ("1", "0"),
    }
    for key, (bad, good) in fixes.items():
        if _sysctl(sysctl, key) == bad:
            raise InfrastructureError(
                f"rootless network needs unprivileged user namespaces, but {key} = {bad}; "
                f"run `sysctl -w {key}={good}` (as root), or run the harness as root"
            )
    for tool, package in TOOLS.items():
        if which(tool) is None:
            raise InfrastructureError(f"rootless network needs `{tool}` on PATH (Debian package {package})")
    if not os.access(tun, os.R_OK | os.W_OK):
        raise InfrastructureError(
            f"rootless network needs read-write {tun} for taps (uid {os.geteuid()} has not); "
            f"`chmod 0666 {tun}` (the Debian and NixOS default), or run the harness as root"
        )


# -- the namespace --------------------------------------------------------------------------
def _ns_id(pid: int | str, kind: str) -> tuple[int, int]:
    """(device, inode) of a process's namespace: equal pairs are the same namespace."""
    st = os.stat(f"/proc/{pid}/ns/{kind}")
    return st.st_dev, st.st_ino


def _first_line(stream: IO[bytes] | None, timeout: float) -> bytes:
    """The first line a child prints, or b"" if it printed none within `timeout` (or exited)."""
    if stream is None:
        return b""
    readable, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if readable else b""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


class UserNetns:
    """A network namespace reachable without root: the run's own (in a fresh user namespace),
    or one nested in it (`add_netns`, the veth "hosts"). Build with `create_userns`.

    `prefix` runs an argv inside; `run`/`spawn` do it with deadlines and bookkeeping;
    `connect` dials TCP inside (top-level namespace only: the relay lives there).
    """

    def __init__(self, name: str, holder: subprocess.Popen[bytes], *, parent: UserNetns | None = None) -> None:
        self.name = name
        self.holder = holder
        self.parent = parent
        self.user_ns = _ns_id(holder.pid, "user")
        self.net_ns = _ns_id(holder.pid, "net")
        self.runtime_dir: Path | None = None
        """Private (0700) directory of the relay's socket; top-level namespace only."""
        self.relay: subprocess.Popen[bytes] | None = None
        self._children: list[UserNetns] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._down = False

    @property
    def pid(self) -> int:
        """The holder's pid (the `--target` of every nsenter)."""
        return self.holder.pid

    @property
    def relay_socket(self) -> Path | None:
        return None if self.runtime_dir is None else self.runtime_dir / "relay.sock"

    @property
    def prefix(self) -> tuple[str, ...]:
        """Prefix an argv with this to run it inside (the process execs in place: same pid)."""
        return ("nsenter", "--user", "--net", f"--target={self.pid}", "--preserve-credentials", "--",
                "env", f"PATH={search_path()}", f"{TAG_ENV}={self.name}")  # fmt: skip

    @property
    def is_up(self) -> bool:
        return not self._down and self.holder.poll() is None

    def run(self, argv: Sequence[str], *, timeout: float = CMD_TIMEOUT, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run a command inside and wait for it (bounded).

        Raises:
            InfrastructureError: non-zero exit (with `check`), timeout, or missing binary.
        """
        return run([*self.prefix, *argv], timeout=timeout, stdin=stdin, check=check, hint=ROOTLESS_HINT)

    def spawn(self, argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
        """Start a long-running process inside; it is killed (and reaped) at teardown."""
        proc: subprocess.Popen[bytes] = subprocess.Popen([*self.prefix, *argv], **popen)  # argv list, no shell
        self._procs.append(proc)
        return proc

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """TCP connect from inside (a `SocketFactory` for SSH); see `connect_in_userns`."""
        return connect_in_userns(self, host, port, timeout)

    def add_netns(self, label: str) -> UserNetns:
        """A further network namespace in the same user namespace (for a veth "host"), held by
        its own holder; torn down with this one. Move a link into it with `... netns <pid>`.

        Raises:
            InfrastructureError: it could not be made.
        """
        argv = ["nsenter", "--user", f"--target={self.pid}", "--preserve-credentials", "--",
                "unshare", "--net", "--", "sh", "-c", HOLDER_SCRIPT]  # fmt: skip
        child = _start_holder(f"{self.name}-{label}", argv, parent=self)
        self._children.append(child)
        return child

    def pids(self, *, net_only: bool = False) -> list[int]:
        """Every live process inside: the whole user namespace for the run's own namespace
        (nested network namespaces included), the network namespace for a nested one or with
        `net_only`."""
        net = net_only or self.parent is not None
        kind, want = ("net", self.net_ns) if net else ("user", self.user_ns)
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if _ns_id(entry.name, kind) == want:
                    found.append(int(entry.name))
            except OSError:  # gone, or not ours to look at
                continue
        return [pid for pid in found if alive(pid)]

    def kill_inside(self, *, timeout: float = 5.0) -> int:
        """SIGKILL every process in this network namespace except the holder and the relay
        (the namespace stays usable; nested ones are left alone, as `ip netns pids` would);
        wait (bounded) for them. Returns how many were killed."""
        keep = {self.pid} if self.relay is None else {self.pid, self.relay.pid}
        victims = [pid for pid in self.pids(net_only=True) if pid not in keep]
        _kill_all(victims)
        _wait_gone(victims, timeout, self._reap)
        return len(victims)

    def teardown(self, *, timeout: float = 5.0) -> list[int]:
        """Kill everything inside and the holder(s), wait (bounded) until they are gone, and
        remove the relay's directory. Idempotent.

        Returns the pids still alive at the deadline (stuck in the kernel, D state): the
        caller must report them (`describe_pids`); empty when everything died.
        """
        with self._lock:
            if self._down:
                return []
            self._down = True
        deadline = time.monotonic() + timeout
        survivors: list[int] = []
        # Asked again every round rather than remembered: a process that was entering (an
        # nsenter in flight) when the round began is found and killed by the next one.
        while True:
            inside = self.pids()
            if not inside:
                break
            if time.monotonic() >= deadline:
                survivors = inside
                break
            _kill_all(inside)
            time.sleep(0.05)
            self._reap()
        for child in self._children:
            survivors += child.teardown(timeout=max(deadline - time.monotonic(), 0.1))
        self._reap()
        for proc in (self.holder, self.relay):
            if proc is not None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        if self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
        return sorted(set(survivors))

    def _reap(self) -> None:
        """Collect our own dead children (holder, relay, spawned) so they are not zombies."""
        for proc in (self.holder, self.relay, *self._procs):
            if proc is not None:
                proc.poll()

    def __repr__(self) -> str:
        return f"<UserNetns {self.name} holder={self.pid} {'up' if self.is_up else 'down'}>"


def describe_pids(pids: Sequence[int]) -> str:
    """`123 (qemu-system-x86), 456 (dnsmasq)`: survivors, named for the report."""
    return ", ".join(f"{pid} ({_comm(pid)})" for pid in pids)


def _kill_all(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _wait_gone(pids: Sequence[int], timeout: float, reap: Callable[[], None]) -> list[int]:
    deadline = time.monotonic() + timeout
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        reap()
        remaining = [pid for pid in remaining if alive(pid)]
        if remaining:
            time.sleep(0.05)
    return remaining


def _start_holder(name: str, argv: Sequence[str], *, parent: UserNetns | None) -> UserNetns:
    """Start a holder, wait for its `ready`, check it really is in new namespaces."""
    # A session of its own: Ctrl-C at the terminal must not kill the holder before the
    # harness's teardown (nodes first, then the network) has run; that teardown kills it.
    holder: subprocess.Popen[bytes] = subprocess.Popen(  # argv list, no shell
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PATH": search_path(), TAG_ENV: name}, start_new_session=True,
    )  # fmt: skip
    line = _first_line(holder.stdout, READY_TIMEOUT)
    if line.strip() != b"ready":
        holder.kill()
        try:
            _, err = holder.communicate(timeout=3.0)
        except subprocess.TimeoutExpired:
            err = b""
        detail = " ".join(err.decode(errors="replace").split()) or f"no `ready` within {READY_TIMEOUT:g} s"
        raise InfrastructureError(
            f"`{' '.join(argv[:6])} ...` could not make a namespace: {detail}; "
            "are unprivileged user namespaces enabled (sysctl kernel.unprivileged_userns_clone, "
            "user.max_user_namespaces)?"
        )
    for stream in (holder.stdout, holder.stderr):
        if stream is not None:
            stream.close()
    try:
        ns = UserNetns(name, holder, parent=parent)
    except OSError as err:  # it died right after `ready`: its /proc/PID/ns links are gone
        holder.kill()
        holder.wait(timeout=3.0)
        raise InfrastructureError(f"holder {holder.pid} of {name} died at start: {err}") from err
    # The `ready` line comes after unshare(2), so these hold; checked anyway because entering a
    # holder that shares our namespaces would run `ip link add` on the host's network.
    mine_user, mine_net = _ns_id("self", "user"), _ns_id("self", "net")
    base_user, base_net = (mine_user, mine_net) if parent is None else (parent.user_ns, parent.net_ns)
    fresh_user = ns.user_ns != mine_user if parent is None else ns.user_ns == base_user
    if not fresh_user or ns.net_ns in (mine_net, base_net):
        ns.teardown()
        raise InfrastructureError(f"holder {holder.pid} of {name} is not in a namespace of its own")
    return ns


def create_userns(name: str | None = None, *, prefix: str = "fba", relay: bool = True) -> UserNetns:
    """A fresh user + network namespace owned by a holder child, as the current user (uid 0
    inside, mapped to us), with `lo` up and (with `relay`) the TCP relay listening.

    Raises:
        InfrastructureError: the namespace or the relay could not be made (everything
            started so far is torn down first).
    """
    name = name or netns_name(prefix)
    argv = ["unshare", "--user", "--map-root-user", "--net", "--", "sh", "-c", HOLDER_SCRIPT]
    ns = _start_holder(name, argv, parent=None)
    try:
        ns.run(["ip", "link", "set", "lo", "up"])
        if relay:
            _start_relay(ns)
    except BaseException:
        ns.teardown()
        raise
    return ns


def _start_relay(ns: UserNetns) -> None:
    # mkdtemp: a fresh 0700 directory, so no other user can connect to (or replace) the socket.
    ns.runtime_dir = Path(tempfile.mkdtemp(prefix=f"{ns.name}-userns-"))
    log = (ns.runtime_dir / "relay.log").open("wb")
    try:
        # -I: the relay uses the standard library only and must not pick up PYTHON* settings.
        # Own session, as the holder: teardown may still need it after a Ctrl-C.
        ns.relay = ns.spawn([sys.executable, "-I", str(RELAY), str(ns.relay_socket)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                            start_new_session=True)  # fmt: skip
    finally:
        log.close()
    line = _first_line(ns.relay.stdout, READY_TIMEOUT)
    if ns.relay.stdout is not None:
        ns.relay.stdout.close()
    if line.strip() != b"ready":
        tail = (ns.runtime_dir / "relay.log").read_text(errors="replace").strip().splitlines()[-1:]
        raise InfrastructureError(
            f"the TCP relay of {ns.name} did not start: {tail[0] if tail else 'no output'}"
        )


# -- dialing in -------------------------------------------------------------------------------
def _read_line(sock: socket.socket, limit: int = 512) -> str:
    """One reply line, byte by byte: the server's first bytes (an SSH banner) may follow it."""
    data = bytearray()
    while len(data) < limit:
        byte = sock.recv(1)
        if not byte:
            raise ConnectionResetError("the relay closed the connection")
        if byte == b"\n":
            return data.decode("utf-8", "replace")
        data += byte
    raise ConnectionError("the relay's reply has no end")


def connect_in_userns(ns: UserNetns, host: str, port: int, timeout: float) -> socket.socket:
    """A stream to `host:port` dialled from inside `ns` (e.g. its 127.0.0.1, or a guest).

    The returned socket is a unix socket to the relay inside the namespace, which has made the
    TCP connection and copies bytes both ways: paramiko and HTTP clients use it like the TCP
    socket of `connect_in_netns`. Its timeout is `timeout`, as there.

    Raises:
        UsageError: `ns` has no relay (a nested namespace), or a malformed host/port.
        InfrastructureError: the relay is not answering (the namespace was torn down?).
        GuestUnreachable: nothing answered at host:port (refused, timed out): SSH waits retry
            on it, as on the root path.
    """
    path = ns.relay_socket
    if path is None:
        raise UsageError(f"namespace {ns.name} has no TCP relay; dial through the run's namespace")
    if not host or any(c.isspace() for c in host) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"connect: bad address {host!r}:{port!r}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # The relay answers within its own connect timeout; the margin covers its scheduling.
        sock.settimeout(timeout + 2.0)
        sock.connect(str(path))
        sock.sendall(f"CONNECT {host} {port} {max(timeout, 0.001)!r}\n".encode())
        reply = _read_line(sock)
    except OSError as err:
        sock.close()
        raise InfrastructureError(
            f"connect to {host}:{port}: the relay of {ns.name} ({path}) is not answering: {err}; "
            "was the fabric torn down?"
        ) from err
    if reply == "OK":
        sock.settimeout(timeout)
        return sock
    sock.close()
    kind, _, message = reply.removeprefix("ERR ").partition(" ")
    raise GuestUnreachable(f"connect to {host}:{port} in {ns.name}: {message} ({kind})")


# -- what a SIGKILLed run left behind -----------------------------------------------------------
def _tag(pid: str) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(f"{TAG_ENV}=".encode()):
            return item.split(b"=", 1)[1].decode(errors="replace")
    return None


def sweep_stale_userns(prefix: str = "fba", *, timeout: float = 5.0) -> list[str]:
    """Kill the processes of rootless namespaces whose creating run is dead, and remove their
    relay directories. Returns the namespace names swept. Live runs (other xdist workers,
    this process) are left alone.

    A process counts only if it carries `FBA_USERNS=<name>` with `prefix` AND is in a user
    namespace other than ours, so nothing on the host side is touched.
    """
    mine = _ns_id("self", "user")
    stale: dict[str, list[int]] = {}

    def dead(name: str) -> bool:
        match = _NAME.match(name)
        if match is None or match["prefix"] != prefix:
            return False
        pid = int(match["pid"])
        return pid != os.getpid() and not alive(pid)

    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        name = _tag(entry.name)
        if name is None or not dead(name):
            continue
        try:
            if _ns_id(entry.name, "user") == mine:
                continue
        except OSError:
            continue
        stale.setdefault(name, []).append(int(entry.name))
    victims = [pid for pids in stale.values() for pid in pids]
    _kill_all(victims)
    _wait_gone(victims, timeout, lambda: None)
    base = Path(tempfile.gettempdir())
    for entry in os.scandir(base):
        name, marker, _ = entry.name.partition("-userns-")
        if marker and dead(name) and entry.is_dir(follow_symlinks=False) and entry.stat().st_uid == os.getuid():
            shutil.rmtree(entry.path, ignore_errors=True)
            stale.setdefault(name, [])
    return sorted(stale)
