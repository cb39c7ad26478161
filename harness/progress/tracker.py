"""Per node: the boot phase it is in, and its first-boot units against their budgets.

`Tracker` is fed the run's events (dicts from `events.jsonl`) and each node's console text; it
keeps a `NodeProgress` per node and returns a `Change` for every phase or unit transition,
exactly once (feeding the same console text or event again changes nothing). Times are
seconds on the tracker's clock (`time.time` in use; a fake in tests); events carry their
own wall time, which is used for QEMU's start so a late reader does not shift it.

    tracker = Tracker(clock=time.time)
    tracker.event({"kind": "step_start", "node": "node01", "msg": "starting vm", ...})
    tracker.console(key, text)   -> [Change("node01", "qemu -> kernel (1.2 s)"), ...]

Unit budgets are the design's T+ offsets (`automation.spec.units`, bootstrap or join node, as
`cluster.json` says) x the run's slowness factor: the prior of the accelerator until the
`slowness` event says the measured one (`harness.slowness`). T+ counts from systemd's start,
as in `harness.report.timeline`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from automation.spec.units import AUTOMATION_UNITS
from harness.progress.console_phases import boot_segment, phases_reached, ready_line, unit_lines
from harness.slowness import Slowness

__all__ = ["Change", "NodeProgress", "Tracker", "UnitProgress"]

_LOGFILE = re.compile(r"logfile=([^,\s]+)")
STARTING_VM = "starting vm"
STOPPING = ("crashing (QEMU quit)", "shutting down")


@dataclass(frozen=True)
class Change:
    """One line of progress: `f"{node}: {text}"`."""

    node: str
    text: str

    def line(self) -> str:
        return f"{self.node}: {self.text}"


@dataclass
class UnitProgress:
    """One first-boot unit of one boot. Times on the tracker's clock; `budget_s` is T+ seconds
    after systemd's start (already scaled), None while the node's role is unknown."""

    name: str
    state: str = "waiting"  # waiting, starting, done, failed
    started_at: float | None = None
    ended_at: float | None = None
    starts: int = 0
    budget_s: float | None = None
    end_is_bound: bool = False  # ended_at is only when the READY line told it (an upper bound)


@dataclass
class NodeProgress:
    """One node's current boot: `phase` is qemu, kernel, initrd, systemd, network-online,
    ready (or the READY line's state, e.g. degraded), stopped, or failed-to-start."""

    label: str
    console: Path | None
    boot: int
    qemu_at: float
    phase: str = "qemu"
    phase_at: float = 0.0
    bootstrap: bool | None = None
    units: dict[str, UnitProgress] = field(default_factory=dict)
    reached: dict[str, float] = field(default_factory=dict)  # phase -> when first seen
    unit_lines_seen: int = 0

    def zero(self) -> float:
        """Where T+ counts from: systemd's start, or QEMU's while systemd is not seen."""
        return self.reached.get("systemd", self.qemu_at)


class Tracker:
    """Turns events and console text into per-node progress and changes (see module doc)."""

    def __init__(self, clock: Callable[[], float], *, run_dir: Path | None = None) -> None:
        self.clock = clock
        self.run_dir = run_dir
        self.nodes: dict[str, NodeProgress] = {}  # by console path (or node name without one)
        self.slowness: Slowness | None = None
        self._boots: dict[str, int] = {}

    # -- inputs ------------------------------------------------------------------------------

    def event(self, ev: dict[str, Any]) -> list[Change]:
        """Take one `events.jsonl` record; the changes it makes."""
        kind, node, msg = ev.get("kind"), ev.get("node"), str(ev.get("msg", ""))
        if kind == "accel" and self.slowness is None:
            self.slowness = Slowness.assumed_tcg() if ev.get("accel") == "tcg" else Slowness.kvm()
            return self._rebudget()
        if kind == "slowness" and isinstance(ev.get("factor"), int | float):
            self.slowness = Slowness(float(ev["factor"]), "measured")
            return self._rebudget()
        if not isinstance(node, str):
            return []
        if kind == "step_start" and msg == STARTING_VM:
            return self._started(node, ev)
        progress = self._latest(node)
        if progress is None:
            return []
        if kind == "step_end" and msg == STARTING_VM and ev.get("ok") is False:
            return self._phase(progress, "failed-to-start")
        if kind == "step_start" and msg in STOPPING:
            return self._phase(progress, "stopped")
        return []

    def console(self, key: str, text: str) -> list[Change]:
        """Take the whole console log of the node keyed `key` (as `keys()` names them)."""
        progress = self.nodes.get(key)
        if progress is None or progress.phase in ("stopped", "failed-to-start"):
            return []
        segment = boot_segment(text, progress.boot)
        if segment is None:
            return []
        changes: list[Change] = []
        for phase in phases_reached(segment):
            if phase not in progress.reached:
                changes += self._phase(progress, phase)
        lines = unit_lines(segment)
        for line in lines[progress.unit_lines_seen :]:
            changes += self._unit(progress, line.unit, line.state)
        progress.unit_lines_seen = len(lines)
        ready = ready_line(segment)
        if ready is not None and "ready" not in progress.reached:
            changes += self._ready(progress, ready.group("state"), ready.group("failed"))
        return changes

    def keys(self) -> dict[str, Path]:
        """Console files to read: node key -> path."""
        return {key: p.console for key, p in self.nodes.items() if p.console is not None}

    # -- transitions -------------------------------------------------------------------------

    def _started(self, node: str, ev: dict[str, Any]) -> list[Change]:
        found = _LOGFILE.search(str(ev.get("argv", "")))
        console = Path(found.group(1)) if found else None
        key = str(console) if console is not None else node
        boot = self._boots.get(key, 0) + 1
        self._boots[key] = boot
        at = _wall(ev.get("wall")) or self.clock()
        progress = NodeProgress(self._label(node, console), console, boot, at, phase_at=at)
        progress.bootstrap = _bootstrap(console, node)
        progress.units = {u.name: UnitProgress(u.name) for u in AUTOMATION_UNITS}
        self.nodes[key] = progress
        self._set_budgets(progress)
        return [Change(progress.label, f"QEMU started (boot {boot})")]

    def _phase(self, progress: NodeProgress, phase: str) -> list[Change]:
        if progress.phase == phase:
            return []
        now = self.clock()
        old, progress.phase, progress.phase_at = progress.phase, phase, now
        progress.reached.setdefault(phase, now)
        return [Change(progress.label, f"{old} -> {phase} ({now - progress.qemu_at:.1f} s)")]

    def _unit(self, progress: NodeProgress, name: str, state: str, *, told_by_ready: bool = False) -> list[Change]:
        unit = progress.units[name]
        if unit.state == state:
            return []  # the same transition in systemd's kernel-log and status forms
        now = self.clock()
        if state == "starting":
            unit.starts += 1
            unit.started_at, unit.ended_at = now, None
            verb = "started" if unit.starts == 1 else f"restarted (start {unit.starts})"
        else:
            unit.ended_at, unit.end_is_bound = now, told_by_ready
            verb = "finished" if state == "done" else "failed"
        unit.state = state
        # A unit whose end systemd did not print is only known to have ended by the READY line.
        when = "by" if told_by_ready else "at"
        return [Change(progress.label, f"{name} {verb} {when} {t_plus(progress, unit, now, bound=told_by_ready)}")]

    def _ready(self, progress: NodeProgress, state: str, failed: str) -> list[Change]:
        changes: list[Change] = []
        failed_units = set(failed.split(",")) if failed != "-" else set()
        for unit in progress.units.values():
            final = "failed" if unit.name in failed_units else "done"
            if unit.state != final:
                changes += self._unit(progress, unit.name, final, told_by_ready=True)
        changes += self._phase(progress, "ready" if state == "running" else state)
        progress.reached.setdefault("ready", progress.phase_at)
        return changes

    # -- budgets -----------------------------------------------------------------------------

    def _rebudget(self) -> list[Change]:
        for progress in self.nodes.values():
            self._set_budgets(progress)
        return []

    def _set_budgets(self, progress: NodeProgress) -> None:
        if progress.bootstrap is None:
            return
        factor = (self.slowness or Slowness.kvm()).factor
        for spec in AUTOMATION_UNITS:
            base = spec.budget_bootstrap_s if progress.bootstrap else spec.budget_join_s
            progress.units[spec.name].budget_s = base * factor

    def _latest(self, node: str) -> NodeProgress | None:
        """The most recently started boot of a node named `node` (names repeat across clusters)."""
        named = [p for p in self.nodes.values() if p.label.rsplit("/", 1)[-1] == node]
        return max(named, key=lambda p: p.qemu_at) if named else None

    def _label(self, node: str, console: Path | None) -> str:
        """`node01`, or `join-faults/node01` when the node's cluster has its own directory in
        the run (scenarios boot several clusters, with the same node names)."""
        if console is None or self.run_dir is None:
            return node
        cluster_dir = console.parent.parent.parent  # <cluster>/nodes/<node>/console.log
        if cluster_dir.resolve() == self.run_dir.resolve():
            return node
        return f"{cluster_dir.name}/{node}"


def t_plus(progress: NodeProgress, unit: UnitProgress, now: float, *, bound: bool = False) -> str:
    """`T+48.2 s (budget T+150.1 s)`, with `OVER BUDGET` once past it; T: `NodeProgress.zero`.

    `bound`: `now` is only an upper bound of the end (the READY line told it, systemd printed
    nothing on the console). Past the budget that proves nothing, so the line says where the
    exact end is instead of OVER BUDGET (seen: three units flagged that the timeline check passed).
    """
    text = f"T+{now - progress.zero():.1f} s"
    if unit.budget_s is None:
        return text
    if now - progress.zero() <= unit.budget_s:
        return f"{text} (budget T+{unit.budget_s:.1f} s)"
    if bound:
        return f"{text} (budget T+{unit.budget_s:.1f} s; its exact end: the timeline check)"
    return f"{text} (budget T+{unit.budget_s:.1f} s) OVER BUDGET"


def _wall(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _bootstrap(console: Path | None, node: str) -> bool | None:
    """The node's role from its cluster's `cluster.json` (written before any node starts)."""
    if console is None:
        return None
    try:
        described = json.loads((console.parent.parent.parent / "cluster.json").read_text())
        return bool(described["nodes"][node]["bootstrap"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
