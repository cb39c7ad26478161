"""`Faults`: inject a fault into a running cluster, get an `ActiveFault` back, stop it to heal.

Every verb records a start/stop interval in the `FaultRecorder` (hence in `events.jsonl` and
the report's timeline) and is bounded: guest commands have deadlines, and faults that leave a
guest changed (netem, a stopped process, a full disk) also schedule their own undo inside the
guest after `max_s`, so even a killed harness leaves no node broken for long.

```python
faults = Faults.for_cluster(cluster)
with faults.partition([["node04"], ["node01", "node02", "node03"]]):
    ...                                       # healed on exit, also on errors
pause = faults.pause("node01"); ...; pause.stop()
faults.reboot("node04")                       # instantaneous: start and stop recorded
faults.apply("hang_service", {"node": "node04", "unit": "flaredb.service"})  # by name (schedules)
```

Network faults (`partition`, `cut`, `isolate`, `block`) are entries in the fabric's
`NetLedger` (harness.network.ledger), which also holds `Node.block()`s: the rules in force are
the union of the active entries, reloaded in one nft transaction on every start and stop, so
stopping one fault lifts exactly that fault. `net_entry` builds the entry of a step from its
arguments; schedules call it at plan time, so overlapping groups fail there.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.faults import commands
from harness.faults.recorder import EventSink, FaultRecord, FaultRecorder
from harness.network import ledger as net
from harness.network.ledger import NetEntry, NetLedger

__all__ = ["ActiveFault", "FaultNode", "Faults", "SCHEDULABLE", "net_entry", "validate_args"]

COMMAND_TIMEOUT = 60.0
DEFAULT_MAX_S = 600.0  # the in-guest guard of a fault nobody heals
BRIDGE_IP = "10.77.0.1"  # the host side of the cluster bridge (harness.cluster.topology)


class Qmp(Protocol):
    def stop(self) -> None: ...
    def cont(self) -> None: ...


class FaultNode(Protocol):
    """What faults need of `harness.machine.node.Node`."""

    @property
    def name(self) -> str: ...
    @property
    def booted(self) -> bool: ...
    @property
    def qmp(self) -> Qmp: ...
    def succeed(self, *commands: str, timeout: float | None = None) -> str: ...
    def start(self, allow_reboot: bool = False) -> None: ...
    def crash(self) -> None: ...
    def shutdown(self) -> None: ...
    def reboot(self) -> None: ...


class ClusterLike(Protocol):
    @property
    def nodes(self) -> Mapping[str, Any]: ...
    @property
    def log(self) -> Any: ...
    @property
    def fabric(self) -> Any: ...
    @property
    def started_at(self) -> float | None: ...


class ActiveFault:
    """A running fault. `stop()` heals it (idempotent); usable as a context manager."""

    def __init__(self, recorder: FaultRecorder, fault_id: int, undo: Callable[[], object] | None) -> None:
        self._recorder = recorder
        self.id = fault_id
        self._undo = undo

    @property
    def record(self) -> FaultRecord:
        return next(r for r in self._recorder.records if r.id == self.id)

    @property
    def active(self) -> bool:
        return self.record.active

    def stop(self) -> FaultRecord:
        if not self.record.active:
            return self.record
        undo, self._undo = self._undo, None
        try:
            if undo is not None:
                undo()
        except BaseException as err:
            self._recorder.stop(self.id, error=f"heal failed: {type(err).__name__}: {err}")
            raise
        return self._recorder.stop(self.id)

    def __enter__(self) -> ActiveFault:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _names(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class Faults:
    def __init__(
        self,
        nodes: Mapping[str, FaultNode],
        net: NetLedger | None,
        recorder: FaultRecorder,
        *,
        bridge_ip: str = BRIDGE_IP,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.nodes = nodes
        self.net = net
        self.recorder = recorder
        self.bridge_ip = bridge_ip
        self._say = log or (lambda _msg: None)
        self._open: list[ActiveFault] = []

    @classmethod
    def for_cluster(cls, cluster: ClusterLike, recorder: FaultRecorder | None = None) -> Faults:
        """Faults over a `harness.cluster.Cluster` (recorded into its RunLog, times since its start).

        `recorder` also becomes the fabric ledger's recorder, so `Node.block()`/`unblock()` on
        the cluster's nodes are intervals in the same fault timeline (the latest `Faults` made
        for a cluster records them).
        """
        sink: EventSink = cluster.log
        recorder = recorder or FaultRecorder(sink, origin=cluster.started_at)
        net: NetLedger | None = cluster.fabric.faults if cluster.fabric is not None else None
        if net is not None:
            net.recorder = recorder
        return cls(cluster.nodes, net, recorder, log=lambda msg: cluster.log.log(msg))

    # -- plumbing -----------------------------------------------------------------------------
    def _node(self, name: str) -> FaultNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise HarnessError(f"fault: no node {name!r}; nodes: {', '.join(self.nodes)}") from None

    def _net(self) -> NetLedger:
        if self.net is None:
            raise HarnessError("fault: this cluster has no network fabric (network faults need one)")
        return self.net

    def _run(self, node: str, command: str) -> str:
        return self._node(node).succeed(command, timeout=COMMAND_TIMEOUT)

    def _begin(self, kind: str, label: str, nodes: Sequence[str], undo: Callable[[], object] | None,
               act: Callable[[], object], **args: Any) -> ActiveFault:  # fmt: skip
        """Record the start, act; if acting fails, record the stop with the error and raise."""
        fault_id = self.recorder.start(kind, label, nodes=nodes, **args)
        self._say(f"fault start: {kind} {label}")
        try:
            act()
        except BaseException as err:
            self.recorder.stop(fault_id, error=f"inject failed: {type(err).__name__}: {err}")
            raise
        fault = ActiveFault(self.recorder, fault_id, self._wrap_undo(kind, label, undo))
        self._open.append(fault)
        return fault

    def _wrap_undo(self, kind: str, label: str, undo: Callable[[], object] | None) -> Callable[[], object]:
        def run() -> None:
            self._say(f"fault stop: {kind} {label}")
            if undo is not None:
                undo()

        return run

    def _instant(self, kind: str, label: str, nodes: Sequence[str], act: Callable[[], object],
                 **args: Any) -> FaultRecord:  # fmt: skip
        with self.recorder.interval(kind, label, nodes=nodes, **args) as fault_id:
            self._say(f"fault: {kind} {label}")
            act()
        return next(r for r in self.recorder.records if r.id == fault_id)

    def heal_all(self) -> list[FaultRecord]:
        """Stop every fault still active, newest first; raises the first heal error at the end."""
        first: BaseException | None = None
        stopped = []
        for fault in reversed(self._open):
            try:
                stopped.append(fault.stop())
            except Exception as err:  # heal the rest, then report
                first = first or err
        self._open = [f for f in self._open if f.active]
        if first is not None:
            raise first
        return stopped

    def apply(self, fault: str, args: Mapping[str, Any]) -> ActiveFault | FaultRecord:
        """Inject a fault by its schedule name (see `SCHEDULABLE`)."""
        method = validate_args(fault, args)
        result: ActiveFault | FaultRecord = getattr(self, method)(**args)
        return result

    # -- network (host bridge, nftables; entries in the fabric's ledger) -----------------------
    def _net_fault(self, fault: str, args: Mapping[str, Any]) -> ActiveFault:
        """Build the entry (names checked first), add it to the ledger, which records the
        interval with our recorder; `stop()` removes exactly this entry."""
        entry = net_entry(fault, args, list(self.nodes) if fault == "isolate" else None)
        if entry is None:  # net_entry knows every network fault; a new one must be added there
            raise HarnessError(f"fault: {fault!r} is not a network fault")
        for name in entry.nodes:
            self._node(name)
        ledger = self._net()
        self._say(f"fault start: {entry.kind} {entry.label}")
        key = ledger.add(entry, recorder=self.recorder)  # on failure: recorded as failed, raised
        record = ledger.record_id(key)
        if record is None:  # cannot happen: add() records with the recorder it was given
            raise HarnessError(f"fault: the ledger did not record {entry.kind} {entry.label}")
        undo = self._wrap_undo(entry.kind, entry.label, lambda: ledger.remove(key))
        active = ActiveFault(self.recorder, record, undo)
        self._open.append(active)
        return active

    def partition(self, groups: Sequence[Sequence[str]]) -> ActiveFault:
        """No traffic between different groups, both ways (names not listed stay connected).

        Raises:
            HarnessError: an unknown node; NetFaultError: overlapping groups, fewer than two.
        """
        return self._net_fault("partition", {"groups": groups})

    def cut(self, src: str | Sequence[str], dst: str | Sequence[str]) -> ActiveFault:
        """One-way: frames from `src` to `dst` are dropped; `dst` can still reach `src`."""
        return self._net_fault("cut", {"src": src, "dst": dst})

    def isolate(self, node: str) -> ActiveFault:
        """`node` against every other node (both ways)."""
        self._node(node)
        return self._net_fault("isolate", {"node": node})

    def block(self, node: str) -> ActiveFault:
        """Drop everything to and from `node` at the bridge, the host side included (what
        `Node.block()` does, as a fault with an interval); `stop()` lifts only this block."""
        return self._net_fault("block", {"node": node})

    def netem(self, node: str, delay_ms: int = 0, jitter_ms: int = 0, loss_pct: float = 0.0,
              iface: str | None = None, max_s: float = DEFAULT_MAX_S) -> ActiveFault:  # fmt: skip
        """Latency/loss on the node's cluster NIC (netem in the guest; the host kernel lacks it)."""
        add = commands.netem_add(delay_ms=delay_ms, jitter_ms=jitter_ms, loss_pct=loss_pct, iface=iface,
                                 peer_ip=self.bridge_ip, guard_s=max_s)  # fmt: skip
        label = f"{node} delay {delay_ms}ms±{jitter_ms}ms loss {loss_pct:g}%"
        return self._begin(
            "netem", label, [node],
            lambda: self._run(node, commands.netem_del(iface=iface, peer_ip=self.bridge_ip)),
            lambda: self._run(node, add),
            delay_ms=delay_ms, jitter_ms=jitter_ms, loss_pct=loss_pct, max_s=max_s,
        )  # fmt: skip

    # -- machines (QEMU) ----------------------------------------------------------------------
    def crash(self, node: str) -> ActiveFault:
        """Power failure (QMP quit); `stop()` starts the node again on the same disk."""
        machine = self._node(node)
        return self._begin("crash", node, [node], machine.start, machine.crash, node=node)

    def pause(self, node: str) -> ActiveFault:
        """Freeze the VM (QMP stop): its TCP peers see silence, not resets; `stop()` resumes."""
        machine = self._node(node)
        return self._begin("pause", node, [node], lambda: machine.qmp.cont(), lambda: machine.qmp.stop(), node=node)

    def power_off(self, node: str) -> ActiveFault:
        """Clean power-off; `stop()` powers it on again."""
        machine = self._node(node)
        return self._begin("power_off", node, [node], machine.start, machine.shutdown, node=node)

    def reboot(self, node: str) -> FaultRecord:
        """Clean power-off and boot on the same disk (returns once QEMU runs again)."""
        machine = self._node(node)
        return self._instant("reboot", node, [node], machine.reboot, node=node)

    # -- services (systemd units in the guest) ------------------------------------------------
    def stop_service(self, node: str, unit: str) -> ActiveFault:
        """`systemctl stop`; `stop()` starts it again."""
        return self._begin(
            "stop_service", f"{node} {unit}", [node],
            lambda: self._run(node, commands.systemctl("start", unit)),
            lambda: self._run(node, commands.systemctl("stop", unit)),
            node=node, unit=unit,
        )  # fmt: skip

    def kill_service(self, node: str, unit: str, signal: str = "KILL") -> FaultRecord:
        """kill -9 (or `signal`) the unit's main process; systemd's Restart= decides what next."""
        return self._instant(
            "kill_service", f"{node} {unit} SIG{signal}", [node],
            lambda: self._say(f"killed pid {self._run(node, commands.kill_main_pid(unit, signal)).strip()}"),
            node=node, unit=unit, signal=signal,
        )  # fmt: skip

    def hang_service(self, node: str, unit: str, max_s: float = DEFAULT_MAX_S) -> ActiveFault:
        """SIGSTOP the unit's main process: it keeps its sockets but answers nothing."""
        pid: list[int] = []

        def act() -> None:
            out = self._run(node, commands.kill_main_pid(unit, "STOP")).strip().splitlines()
            pid.append(int(out[-1]))
            cont = commands.signal_pid(pid[0], "CONT")
            self._run(node, commands.undo_later(cont, max_s))

        return self._begin(
            "hang_service", f"{node} {unit}", [node],
            lambda: self._run(node, commands.signal_pid(pid[0], "CONT") + " 2>/dev/null || true"),
            act, node=node, unit=unit, max_s=max_s,
        )  # fmt: skip

    def fill_disk(self, node: str, directory: str = "/var/lib", leave_mb: int = 8,
                  max_s: float = DEFAULT_MAX_S) -> ActiveFault:  # fmt: skip
        """Leave only `leave_mb` free on `directory`'s file system; `stop()` removes the file."""
        undo = commands.unfill_disk(directory)
        return self._begin(
            "fill_disk", f"{node} {directory} (leave {leave_mb} MB)", [node],
            lambda: self._run(node, undo),
            lambda: self._run(node, commands.fill_disk(directory, leave_mb) + "; " + commands.undo_later(undo, max_s)),
            node=node, directory=directory, leave_mb=leave_mb, max_s=max_s,
        )  # fmt: skip

    def clock_skew(self, node: str, offset_s: int) -> ActiveFault:
        """Move the guest's wall clock by `offset_s`; `stop()` moves it back by the same amount."""
        return self._begin(
            "clock_skew", f"{node} {offset_s:+d}s", [node],
            lambda: self._run(node, commands.clock_skew(-offset_s)),
            lambda: self._run(node, commands.clock_skew(offset_s)),
            node=node, offset_s=offset_s,
        )  # fmt: skip

    # -- automation knobs and failpoints ------------------------------------------------------
    def read_env(self, node: str) -> dict[str, str]:
        out = self._node(node).succeed(f"cat {commands.ENV_FILE} 2>/dev/null || true", timeout=COMMAND_TIMEOUT)
        return commands.parse_env(out)

    def set_env(self, node: str, updates: Mapping[str, str | None]) -> dict[str, str]:
        """Merge `updates` into the guest's automation env file (None removes a key); read at
        the next start of each automation unit. Returns the new environment."""
        current = self._node(node).succeed(f"cat {commands.ENV_FILE} 2>/dev/null || true", timeout=COMMAND_TIMEOUT)
        data = commands.merge_env(current, updates)
        self._run(node, commands.write_file(commands.ENV_FILE, data))
        self._say(f"{node}: env file updated: {json.dumps(dict(updates))}")
        return commands.parse_env(data.decode())

    def arm_failpoints(self, node: str, failpoints: str | Mapping[str, str],
                       env: Mapping[str, str] | None = None) -> ActiveFault:  # fmt: skip
        """Arm failpoints for the next start of the automation units (and clear the fired
        record, so each fires once more); `stop()` disarms them."""
        spec = failpoints if isinstance(failpoints, str) else commands.failpoint_spec(failpoints)
        updates: dict[str, str | None] = {**(env or {}), "FBA_FAILPOINTS": spec}

        def act() -> None:
            self.set_env(node, updates)
            self._run(node, commands.clear_fired_failpoints())

        return self._begin(
            "failpoints", f"{node} {spec}", [node],
            lambda: self.set_env(node, {"FBA_FAILPOINTS": None}), act, node=node, failpoints=spec,
        )  # fmt: skip

    # -- time base for the timeline ----------------------------------------------------------
    def userspace_origin(self, node: str) -> float:
        """Recorder time (s) at which `node`'s current boot started userspace: subtract it from
        a fault's start/end to draw it on that node's unit timeline."""
        out = self._node(node).succeed(
            "cut -d' ' -f1 /proc/uptime; systemctl show --property=UserspaceTimestampMonotonic --value",
            timeout=COMMAND_TIMEOUT,
        )
        now = self.recorder.now()
        return commands.userspace_origin(out, now)


# Schedule name -> `Faults` method. The method's keyword parameters are the step's `args`.
SCHEDULABLE: dict[str, str] = {
    "partition": "partition",
    "cut": "cut",
    "isolate": "isolate",
    "block": "block",
    "netem": "netem",
    "crash": "crash",
    "pause": "pause",
    "power_off": "power_off",
    "reboot": "reboot",
    "stop_service": "stop_service",
    "kill_service": "kill_service",
    "hang_service": "hang_service",
    "fill_disk": "fill_disk",
    "clock_skew": "clock_skew",
    "failpoints": "arm_failpoints",
}
INSTANT = frozenset({"reboot", "kill_service"})  # complete when applied; no duration


def validate_args(fault: str, args: Mapping[str, Any]) -> str:
    """The method name for `fault`; raises HarnessError naming what is wrong with `args`."""
    method = SCHEDULABLE.get(fault)
    if method is None:
        raise HarnessError(f"unknown fault {fault!r}; known: {', '.join(sorted(SCHEDULABLE))}")
    signature = inspect.signature(getattr(Faults, method))
    try:
        signature.bind(None, **args)
    except TypeError as err:
        params = [p for p in signature.parameters if p != "self"]
        raise HarnessError(f"fault {fault!r}: {err}; parameters: {', '.join(params)}") from None
    return method


def net_entry(fault: str, args: Mapping[str, Any], nodes: Sequence[str] | None) -> NetEntry | None:
    """The ledger entry of schedule fault `fault` with (bound, see `validate_args`) `args`.

    None for faults that are not bridge rules (netem and the rest act in the guest), and for
    `isolate` when `nodes` is None (its other side is "every other node"). `nodes`, when given,
    are the cluster's names: names outside it are refused.

    Raises:
        NetFaultError: overlapping or too few partition groups, an unknown node, bad shapes.
    """
    if fault == "partition":
        return net.partition(args["groups"], nodes)
    if fault == "cut":
        return net.cut(args["src"], args["dst"], nodes)
    if fault == "block":
        return net.block(args["node"], nodes)
    if fault == "isolate":
        return None if nodes is None else net.isolate(args["node"], nodes)
    return None
