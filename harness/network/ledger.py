"""`NetLedger`: the one owner of a run's network faults.

Every network fault, whoever asks for it (`harness.faults.Faults`, `Node.block()` through the
fabric, a test), is an entry in the ledger: fault key -> `NetEntry`. The rules in force are
the fold of the active entries (the union of their cuts and blocked ports), rendered by
`FaultRules.render` and loaded as ONE `nft -f` transaction on every `add` and every `remove`.
Nothing else writes or flushes the fault table, so removing one fault can never lift another,
and there is no moment between a "clear" and a "replay" when the bridge is open.

Entries are plain data in node names, built by `cut`, `partition`, `isolate` and `block`
below. The builders check everything that does not need a running fabric (argument shapes,
overlapping groups, and names when `known` is given), so a schedule builds its steps' entries
at plan time and a bad step fails there, naming the step, not mid-run.

```python
ledger = NetLedger(fabric.ports, apply=load_nft_script, recorder=fault_recorder)
key = ledger.add(partition([["node01", "node02"], ["node03"]], known=names))
ledger.block("node03")          # LinkControl: one entry per node, idempotent
ledger.remove(key)              # node03 stays blocked
ledger.unblock("node03")
```

With a recorder (`harness.faults.FaultRecorder` fits `IntervalRecorder`), each entry is also a
start/stop interval in the run's fault timeline: started when added, stopped when removed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.network.nft import TABLE, Cut, FaultRules, NetFaultError, partition_cuts

__all__ = [
    "IntervalRecorder",
    "NetEntry",
    "NetFaultError",
    "NetLedger",
    "block",
    "cut",
    "fold",
    "isolate",
    "partition",
]


@dataclass(frozen=True)
class NetEntry:
    """One network fault, in node (or veth host) names.

    `cuts` are one-way name cuts (`Cut(src names, dst names)`), `blocked` names whose port drops
    everything. `kind`, `label`, `nodes` and `args` describe it in the fault timeline.
    """

    kind: str
    label: str
    cuts: frozenset[Cut] = frozenset()
    blocked: frozenset[str] = frozenset()
    nodes: tuple[str, ...] = ()
    args: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def names(self) -> frozenset[str]:
        """Every name the entry needs a bridge port for."""
        return frozenset(self.blocked).union(*(c.src | c.dst for c in self.cuts))


def fold(entries: Iterable[NetEntry], port: Callable[[str], str]) -> FaultRules:
    """The rules in force for `entries`: the union of their cuts and blocks, in port names."""
    cuts: set[Cut] = set()
    blocked: set[str] = set()
    for entry in entries:
        cuts |= {Cut(frozenset(map(port, c.src)), frozenset(map(port, c.dst))) for c in entry.cuts}
        blocked |= {port(n) for n in entry.blocked}
    return FaultRules(frozenset(cuts), frozenset(blocked))


# -- builders: pure, usable at plan time --------------------------------------------------
def _names(value: object, what: str) -> list[str]:
    """A name or a list of names as a list; NetFaultError for anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(n, str) for n in value):
        return list(value)
    raise NetFaultError(f"{what}: expected a node name or a list of names, got {value!r}")


def _check_known(names: Iterable[str], known: Sequence[str] | None) -> None:
    if known is None:
        return
    unknown = sorted({n for n in names if n not in known})
    if unknown:
        raise NetFaultError(f"unknown node(s) {unknown}; known: {', '.join(known) or 'none'}")


def cut(src: str | Sequence[str], dst: str | Sequence[str], known: Sequence[str] | None = None) -> NetEntry:
    """One-way: frames from `src` to `dst` are dropped; `dst` can still reach `src`.

    Raises:
        NetFaultError: an empty side, a name on both sides, or a name not in `known`.
    """
    s, d = _names(src, "cut src"), _names(dst, "cut dst")
    if not s or not d:
        raise NetFaultError(f"cut needs names on both sides, got src={s}, dst={d}")
    if set(s) & set(d):
        raise NetFaultError(f"cut: {sorted(set(s) & set(d))} on both sides")
    _check_known(s + d, known)
    return NetEntry("cut", f"{','.join(s)} -> {','.join(d)}", frozenset({Cut(frozenset(s), frozenset(d))}),
                    nodes=tuple(s + d), args={"src": s, "dst": d})  # fmt: skip


def partition(groups: Sequence[Sequence[str]], known: Sequence[str] | None = None, *,
              kind: str = "partition", label: str | None = None,
              args: Mapping[str, Any] | None = None) -> NetEntry:  # fmt: skip
    """No traffic between different groups, both ways (names not listed stay connected).

    Raises:
        NetFaultError: groups that overlap, fewer than two non-empty groups, a name not in
            `known`, or `groups` not a list of lists of names.
    """
    if not isinstance(groups, list | tuple) or any(isinstance(g, str) for g in groups):
        raise NetFaultError(f"partition groups: expected a list of lists of names, got {groups!r}")
    listed = [_names(g, f"partition group {i}") for i, g in enumerate(groups)]
    cuts = partition_cuts(listed)  # raises on overlap
    if sum(1 for g in listed if g) < 2:
        raise NetFaultError(f"partition needs at least two non-empty groups, got {listed}")
    _check_known([n for g in listed for n in g], known)
    nodes = [n for g in listed for n in g]
    return NetEntry(kind, label if label is not None else " | ".join(",".join(g) for g in listed), cuts,
                    nodes=tuple(nodes), args=dict(args) if args is not None else {"groups": listed})  # fmt: skip


def isolate(node: str, everyone: Sequence[str]) -> NetEntry:
    """`node` against every other name in `everyone` (a two-group partition).

    Raises:
        NetFaultError: `node` not in `everyone`, or nobody to isolate it from.
    """
    if not isinstance(node, str):
        raise NetFaultError(f"isolate node: expected a node name, got {node!r}")
    name = node
    _check_known([name], everyone)
    others = [n for n in everyone if n != name]
    if not others:
        raise NetFaultError(f"isolate {name}: no other node to isolate it from")
    entry = partition([[name], others], kind="isolate", label=name, args={"node": name})
    return NetEntry(entry.kind, entry.label, entry.cuts, nodes=(name,), args=entry.args)


def block(node: str, known: Sequence[str] | None = None) -> NetEntry:
    """`node`'s port drops everything, also to and from the host side of the bridge.

    Raises:
        NetFaultError: `node` is not a name, or not in `known`.
    """
    if not isinstance(node, str):
        raise NetFaultError(f"block node: expected a node name, got {node!r}")
    _check_known([node], known)
    return NetEntry("block", node, blocked=frozenset({node}), nodes=(node,), args={"node": node})


# -- the ledger -----------------------------------------------------------------------------
class IntervalRecorder(Protocol):
    """What the ledger needs of `harness.faults.FaultRecorder`."""

    def start(self, kind: str, label: str, *, nodes: Sequence[str] = (), **args: Any) -> int: ...
    def stop(self, fault_id: int, *, error: str | None = None) -> object: ...


class NetLedger:
    """Fault key -> `NetEntry`; the loaded rules are always the fold of the active entries.

    `ports` maps names to bridge ports (shared with the fabric, so hosts added later are
    known); `apply(script)` loads one `nft -f` script in the namespace and raises when nft
    fails (the transaction then did not load: the kernel keeps the previous rules). Adds and
    removes are serialised, so loads happen in the order the ledger changes. `recorder`, when
    set, records every entry as a fault interval (`add(..., recorder=)` overrides it).
    """

    def __init__(self, ports: Mapping[str, str], apply: Callable[[str], None], *, table: str = TABLE,
                 recorder: IntervalRecorder | None = None) -> None:  # fmt: skip
        self._ports = ports
        self._apply = apply
        self._table = table
        self.recorder = recorder
        self._entries: dict[int, NetEntry] = {}
        self._records: dict[int, tuple[IntervalRecorder, int]] = {}
        self._links: dict[str, int] = {}  # node -> key of its block() entry
        self._next_key = 1
        # Reentrant: block() checks and adds under one hold.
        self._lock = threading.RLock()
        self.rules = FaultRules()
        """The rules loaded by the last successful transaction (the fold of `entries`)."""
        self.history: list[tuple[str, FaultRules]] = []
        """Every loaded state with what made it ("add cut", "remove partition", ...)."""

    @property
    def entries(self) -> dict[int, NetEntry]:
        """A copy of the active entries, by key, in the order they were added."""
        with self._lock:
            return dict(self._entries)

    def record_id(self, key: int) -> int | None:
        """The recorder's fault id of entry `key` (None: not recorded, or not active)."""
        with self._lock:
            held = self._records.get(key)
            return held[1] if held is not None else None

    def script(self) -> str:
        """The `nft -f` transaction that makes the active entries true."""
        return self.rules.render(self._table)

    def _port(self, name: str) -> str:
        try:
            return self._ports[name]
        except KeyError:
            known = ", ".join(sorted(self._ports)) or "none"
            raise NetFaultError(f"no bridge port for {name!r}; known: {known}") from None

    def _load(self, entries: dict[int, NetEntry], why: str) -> None:
        """Load the fold of `entries` in one transaction; on success they become the ledger."""
        rules = fold(entries.values(), self._port)
        self._apply(rules.render(self._table))
        self._entries = entries
        self.rules = rules
        self.history.append((why, rules))

    def add(self, entry: NetEntry, *, recorder: IntervalRecorder | None = None) -> int:
        """Put `entry` in force (with every other active entry); returns its key.

        Raises:
            NetFaultError: a name of `entry` has no bridge port (nothing recorded or loaded).
            InfrastructureError: nft failed; the entry is not added, its interval (if
                recorded) is stopped with the error, and the previous rules stay loaded.
        """
        for name in sorted(entry.names):
            self._port(name)
        sink = recorder or self.recorder
        with self._lock:
            key = self._next_key
            self._next_key += 1
            record = sink.start(entry.kind, entry.label, nodes=entry.nodes, **entry.args) if sink else None
            try:
                self._load({**self._entries, key: entry}, f"add {entry.kind}")
            except BaseException as err:
                if sink is not None and record is not None:
                    sink.stop(record, error=f"inject failed: {type(err).__name__}: {err}")
                raise
            if sink is not None and record is not None:
                self._records[key] = (sink, record)
            return key

    def remove(self, key: int) -> bool:
        """Lift entry `key`, keeping every other; False if it is not active (idempotent).

        Raises:
            InfrastructureError: nft failed; the entry stays active (the kernel still has
                it), so `remove(key)` can be retried.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            self._load({k: e for k, e in self._entries.items() if k != key}, f"remove {entry.kind}")
            held = self._records.pop(key, None)
            self._links = {n: k for n, k in self._links.items() if k != key}
        if held is not None:
            sink, record = held
            sink.stop(record)
        return True

    # -- LinkControl for Node.block()/unblock() -------------------------------------------
    def block(self, node: str) -> None:
        """Cut `node`'s link (idempotent: one link entry per node); recorded like any fault."""
        with self._lock:
            if node in self._links:
                return
            self._links[node] = self.add(block(node))

    def unblock(self, node: str) -> None:
        """Lift the entry of `block(node)` (idempotent). Faults others added stay in force."""
        with self._lock:
            key = self._links.get(node)
            if key is not None:
                self.remove(key)
