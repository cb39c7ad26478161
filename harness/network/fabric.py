"""`Fabric`: the cluster network of one run, confined to a fresh network namespace.

Inside namespace `fba-<pid>-<rand>`: `lo` up (QEMU's SSH forwards listen there), bridge
`br0` carrying the host-side address, one tap per node, and optional veth "hosts" (extra
namespaces on the bridge, for services or tests). QEMU is launched through `exec_prefix`
(`ip netns exec NS ...`). Network faults are entries in `self.faults` (`NetLedger`, the one
owner of the namespace's bridge nftables rules); the fabric is also the nodes' `LinkControl`.

Teardown is always: on context exit, and through `harness.machine.reaper` on SIGINT/SIGTERM
(handlers chain to the previous ones) and at interpreter exit. It kills every process in the
namespaces and deletes them, bounded by ~10 s. `sweep_stale()` removes what a SIGKILLed run left behind.

Two paths behind one interface (`mode`, from `harness.network.userns.select_mode`): as root, a
named namespace under /run/netns (`ip netns`, setns(2) to dial), unchanged; otherwise a user +
network namespace owned by a holder child (`harness.network.userns.UserNetns`): commands go
through `nsenter`, dials through a relay inside, veth hosts are nested namespaces of it.

```python
with Fabric(["node01", "node02", "node03"]) as fabric:
    node = Node(NodeConfig(..., tap=TapNic(fabric.port("node01"), mac),
                           launch_prefix=fabric.exec_prefix), link=fabric,
                sock_factory=fabric.connect)
    key = fabric.faults.add(isolate("node03", list(fabric.ports))); fabric.faults.remove(key)
```
"""

from __future__ import annotations

import functools
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from harness.errors import InfrastructureError
from harness.machine import reaper
from harness.network.ledger import NetLedger
from harness.network.netns import (
    ROOT_HINT,
    connect_in_netns,
    delete_netns,
    kill_netns_pids,
    netns_name,
    run,
)  # fmt: skip
from harness.network.userns import (
    ROOTLESS_HINT,
    Mode,
    UserNetns,
    connect_in_userns,
    create_userns,
    describe_pids,
    select_mode,
)  # fmt: skip

__all__ = ["Fabric"]


class Fabric:
    """One run's namespace, bridge, taps and faults. Use as a context manager."""

    def __init__(
        self,
        nodes: Sequence[str] = (),
        *,
        prefix: str = "fba",
        bridge: str = "br0",
        host_cidr: str = "10.77.0.1/24",
        host_cidr6: str | None = None,
        mode: Mode | None = None,
    ) -> None:
        self.mode: Mode = mode or select_mode()
        """"root" (/run/netns, `ip netns exec`) or "rootless" (a user namespace of ours)."""
        self.name = netns_name(prefix)
        self.bridge = bridge
        self.host_cidr = host_cidr
        self.host_cidr6 = host_cidr6
        self.ports: dict[str, str] = {}
        """Node or host name -> bridge port (tap or veth) in the namespace."""
        self.hosts: dict[str, str] = {}
        """veth host name -> its own namespace."""
        self.userns: UserNetns | None = None
        """Rootless only: the run's user + network namespace (None before `up`, and as root)."""
        self._host_ns: dict[str, UserNetns] = {}  # rootless: veth host name -> nested namespace
        self._wanted = list(nodes)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._up = False
        self._lock = threading.Lock()
        self.faults = NetLedger(self.ports, self._nft)
        """Every network fault of this fabric; the only writer of its nftables rules."""
        self.teardown_seconds: float | None = None
        self._token = 0

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Fabric:
        self.up()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.teardown()

    def up(self) -> None:
        """Create the namespace, bridge and taps. On any failure, undo and raise.

        Raises:
            InfrastructureError: `ip` failed (as root), or no user namespace could be made.
        """
        self._token = reaper.register(f"fabric {self.name}", self.teardown)
        self._up = True
        try:
            if self.mode == "rootless":
                self.userns = create_userns(self.name)  # lo is up already
            else:
                run(["ip", "netns", "add", self.name])
                self.ip("link", "set", "lo", "up")
            self.ip("link", "add", self.bridge, "type", "bridge")
            self.ip("addr", "add", self.host_cidr, "dev", self.bridge)
            if self.host_cidr6:
                self.ip("addr", "add", self.host_cidr6, "dev", self.bridge, "nodad")
            self.ip("link", "set", self.bridge, "up")
            for node in self._wanted:
                self.add_tap(node)
        except BaseException:
            self.teardown()
            raise

    def teardown(self) -> None:
        """Kill what runs inside, delete the namespaces (idempotent, ~10 s worst case). Every
        part is attempted even when one before it failed.

        Raises:
            TeardownError: a part failed, or processes survived SIGKILL (the rest was done).
        """
        steps = reaper.Teardown(f"fabric {self.name}: teardown")
        with self._lock:
            if not self._up:
                return
            self._up = False
            begin = time.monotonic()
            for proc in self._procs:
                if proc.poll() is None:
                    steps.run(f"kill pid {proc.pid}", proc.kill)
            for proc in self._procs:
                steps.run(f"wait for pid {proc.pid}", functools.partial(_reap_child, proc))
            if self.mode == "rootless":
                # The veth hosts are nested in the user namespace: its teardown ends them too.
                if self.userns is not None:
                    steps.run(f"namespace {self.name}", functools.partial(_delete_userns, self.userns))
            else:
                for host_ns in self.hosts.values():
                    steps.run(f"namespace {host_ns}", functools.partial(_delete, host_ns))
                steps.run(f"namespace {self.name}", functools.partial(_delete, self.name))
            self.teardown_seconds = time.monotonic() - begin
        self.release()  # drops the reaper registration: nothing is left for it to retry
        steps.finish()

    def release(self) -> None:
        """Let the namespace outlive this process (`--keep`): forget the reaper registration,
        whose atexit handler would otherwise delete it the moment the process exits. The fabric
        stays up; `teardown()` (or `cluster-test down`) still removes it. Idempotent, any state.
        """
        reaper.unregister(self._token)
        self._token = 0

    @property
    def is_up(self) -> bool:
        return self._up

    # -- inside the namespace -------------------------------------------------------------
    @property
    def exec_prefix(self) -> tuple[str, ...]:
        """Prefix an argv with this to run it inside the namespace (rootless: after `up`)."""
        if self.mode == "rootless":
            return self._userns().prefix
        return ("ip", "netns", "exec", self.name)

    def host_prefix(self, name: str) -> tuple[str, ...]:
        """Prefix an argv with this to run it in veth host `name`'s namespace.

        Raises:
            InfrastructureError: no such host.
        """
        if name not in self.hosts:
            raise InfrastructureError(f"fabric {self.name} has no host {name!r}")
        if self.mode == "rootless":
            return self._host_ns[name].prefix
        return ("ip", "netns", "exec", self.hosts[name])

    @property
    def _hint(self) -> str:
        return ROOTLESS_HINT if self.mode == "rootless" else ROOT_HINT

    def _userns(self) -> UserNetns:
        if self.userns is None:
            raise InfrastructureError(f"fabric {self.name} (rootless) is not up: no namespace to enter yet")
        return self.userns

    def ip(self, *args: str) -> str:
        """Run `ip -n NS args...` (rootless: `ip args...` inside); returns stdout."""
        if self.mode == "rootless":
            return self._userns().run(["ip", *args]).stdout
        return run(["ip", "-n", self.name, *args]).stdout

    def exec(self, argv: Sequence[str], *, timeout: float = 10.0,
             check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run a command inside the namespace and wait for it (bounded)."""
        return run([*self.exec_prefix, *argv], timeout=timeout, check=check, hint=self._hint)

    def spawn(self, argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
        """Start a long-running process inside the namespace; killed at teardown."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # argv list, no shell
            [*self.exec_prefix, *argv], **popen
        )
        self._procs.append(proc)
        return proc

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """TCP connect from inside the namespace (a `SocketFactory` for SSH)."""
        if self.mode == "rootless":
            return connect_in_userns(self._userns(), host, port, timeout)
        return connect_in_netns(self.name, host, port, timeout)

    def _nft(self, script: str) -> None:
        run([*self.exec_prefix, "nft", "-f", "-"], stdin=script, hint=self._hint)

    # -- ports ----------------------------------------------------------------------------
    def add_tap(self, node: str) -> str:
        """Create a tap for `node` on the bridge; returns its name (tap1, tap2, ...)."""
        tap = f"tap{len(self.ports) + 1}"
        self.ip("tuntap", "add", "dev", tap, "mode", "tap")
        self.ip("link", "set", tap, "master", self.bridge)
        self.ip("link", "set", tap, "up")
        self.ports[node] = tap
        return tap

    def port(self, name: str) -> str:
        """The bridge port of a node or host.

        Raises:
            InfrastructureError: unknown name.
        """
        try:
            return self.ports[name]
        except KeyError:
            raise InfrastructureError(f"fabric {self.name} has no port for {name!r}") from None

    def add_veth_host(self, name: str, cidr: str) -> str:
        """A tiny "host" on the bridge: its own namespace, a veth with address `cidr`.

        Returns the host's namespace name (run commands there through `host_prefix(name)`;
        as root that is `ip netns exec <name>`).
        """
        if self.mode == "rootless":
            return self._add_nested_host(name, cidr)
        host_ns = f"{self.name}-{name}"
        port = f"vh{len(self.ports) + 1}"
        run(["ip", "netns", "add", host_ns])
        self.hosts[name] = host_ns
        self.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host_ns)
        self.ip("link", "set", port, "master", self.bridge)
        self.ip("link", "set", port, "up")
        run(["ip", "-n", host_ns, "addr", "add", cidr, "dev", "eth0"])
        run(["ip", "-n", host_ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", host_ns, "link", "set", "lo", "up"])
        self.ports[name] = port
        return host_ns

    def _add_nested_host(self, name: str, cidr: str) -> str:
        """Rootless `add_veth_host`: a network namespace nested in the user namespace, the veth
        peer moved into it by its holder's pid (there is no /run/netns name to move it to)."""
        host = self._userns().add_netns(name)
        port = f"vh{len(self.ports) + 1}"
        self.hosts[name] = host.name
        self._host_ns[name] = host
        self.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", str(host.pid))
        self.ip("link", "set", port, "master", self.bridge)
        self.ip("link", "set", port, "up")
        host.run(["ip", "addr", "add", cidr, "dev", "eth0"])
        host.run(["ip", "link", "set", "eth0", "up"])
        host.run(["ip", "link", "set", "lo", "up"])
        self.ports[name] = port
        return host.name

    # -- LinkControl for Node.block()/unblock(): entries in the same ledger ----------------
    def block(self, node: str) -> None:
        """Add `node`'s link block to the ledger (idempotent; recorded if it has a recorder)."""
        self.faults.block(node)

    def unblock(self, node: str) -> None:
        """Lift `block(node)` only; other faults on `node` stay in force."""
        self.faults.unblock(node)

    def kill_inside(self) -> int:
        """SIGKILL every process in the namespace (keeps the namespace)."""
        if self.mode == "rootless":
            return self._userns().kill_inside()
        return kill_netns_pids(self.name)

    def __repr__(self) -> str:
        return f"<Fabric {self.name} {'up' if self._up else 'down'} ports={self.ports}>"


def _reap_child(proc: subprocess.Popen[bytes]) -> None:
    """Wait (bounded) for a killed child; one still running dies with its namespace next."""
    try:
        proc.wait(timeout=3.0)
    except subprocess.TimeoutExpired:
        pass


def _delete_userns(ns: UserNetns) -> None:
    survivors = ns.teardown()
    if survivors:
        raise InfrastructureError(f"pids {describe_pids(survivors)} survived SIGKILL (stuck in the kernel?)")


def _delete(name: str) -> None:
    survivors = delete_netns(name)
    if survivors:
        raise InfrastructureError(f"pids {' '.join(map(str, survivors))} survived SIGKILL (stuck in the kernel?)")
