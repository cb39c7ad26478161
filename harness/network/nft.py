"""Network faults as data: bridge-family nftables rules in the run's namespace.

All faults live in one table, `bridge fba_faults`, rebuilt from a `FaultRules` value on
every change and loaded atomically with one `nft -f` transaction ("add table; delete table;
table {...}"), so applying is idempotent and a half-applied partition cannot happen. Frames
are dropped at the bridge, so established TCP flows are cut too, not just new ones.

Vocabulary (names are node or host names, mapped to bridge ports by the fabric):
- `cut(src, dst)`: one-way, frames from `src` to `dst` are dropped, replies still flow.
- `partition(g1, g2, ...)`: no traffic between different groups, both ways.
- `isolate(n)`: `n` against everyone else (a two-group partition).
- `block(n)`: `n`'s port drops everything, including to the host side of the bridge.
- `heal()`: all of the above removed (idempotent).

```python
faults.partition(["node01", "node02"], ["node03"])   # node03 in the minority
faults.heal()
```
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.errors import HarnessError, UsageError

__all__ = ["Cut", "FaultRules", "NetFaults", "TABLE", "heal_script", "partition_cuts"]

TABLE = "fba_faults"


@dataclass(frozen=True, order=True)
class Cut:
    """Drop frames entering from any `src` port and leaving by any `dst` port (one-way)."""

    src: frozenset[str]
    dst: frozenset[str]


def _set(ports: Iterable[str]) -> str:
    names = sorted(ports)
    if len(names) == 1:
        return f'"{names[0]}"'
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }"


def partition_cuts(groups: Sequence[Iterable[str]]) -> frozenset[Cut]:
    """Cuts that separate every group from every other, both ways."""
    sets = [frozenset(g) for g in groups]
    for a, b in itertools.combinations(sets, 2):
        if a & b:
            raise UsageError(f"partition groups overlap: {sorted(a & b)}; a node can be in one group only")
    return frozenset(Cut(a, b) for a, b in itertools.permutations(sets, 2) if a and b)


@dataclass(frozen=True)
class FaultRules:
    """The complete fault state of one fabric, in bridge port names."""

    cuts: frozenset[Cut] = field(default_factory=frozenset)
    blocked: frozenset[str] = field(default_factory=frozenset)

    @property
    def empty(self) -> bool:
        return not self.cuts and not self.blocked

    def render(self, table: str = TABLE) -> str:
        """The `nft -f` script that makes this state true (replacing any previous one)."""
        if self.empty:
            return heal_script(table)
        forward = [
            f"iifname {_set(c.src)} oifname {_set(c.dst)} drop"
            for c in sorted(self.cuts, key=lambda c: (sorted(c.src), sorted(c.dst)))
        ]
        chains = []
        if self.blocked:
            ports = _set(self.blocked)
            forward += [f"iifname {ports} drop", f"oifname {ports} drop"]
            chains += [
                _chain("block_in", "input", [f"iifname {ports} drop"]),
                _chain("block_out", "output", [f"oifname {ports} drop"]),
            ]
        # "fwd" is an nft keyword; the chain is called "cuts".
        chains.insert(0, _chain("cuts", "forward", forward))
        return heal_script(table) + f"table bridge {table} {{\n" + "".join(chains) + "}\n"


def _chain(name: str, hook: str, rules: list[str]) -> str:
    body = "".join(f"\t\t{rule}\n" for rule in rules)
    return f"\tchain {name} {{\n\t\ttype filter hook {hook} priority 0; policy accept;\n{body}\t}}\n"


def heal_script(table: str = TABLE) -> str:
    """Remove the fault table; succeeds whether or not it exists ("add" first)."""
    return f"add table bridge {table}\ndelete table bridge {table}\n"


class NetFaults:
    """Stateful front of `FaultRules`: each verb updates the state and applies it.

    `ports` maps node/host names to bridge ports (shared with the fabric, so hosts added
    later are known); `apply(script)` loads an nft script in the namespace.
    """

    def __init__(self, ports: Mapping[str, str], apply: Callable[[str], None]) -> None:
        self._ports = ports
        self._apply = apply
        self.rules = FaultRules()
        self.history: list[tuple[str, FaultRules]] = []
        """Every applied state with the verb that made it (for the fault timeline)."""

    def _port(self, name: str) -> str:
        try:
            return self._ports[name]
        except KeyError:
            known = ", ".join(sorted(self._ports)) or "none"
            raise HarnessError(f"no bridge port for {name!r}; known: {known}") from None

    def _set_rules(self, verb: str, rules: FaultRules) -> None:
        self._apply(rules.render())
        self.rules = rules
        self.history.append((verb, rules))

    def cut(self, src: Iterable[str], dst: Iterable[str]) -> None:
        """One-way cut: frames from `src` names to `dst` names are dropped."""
        cut = Cut(frozenset(map(self._port, src)), frozenset(map(self._port, dst)))
        self._set_rules("cut", FaultRules(self.rules.cuts | {cut}, self.rules.blocked))

    def partition(self, *groups: Iterable[str]) -> None:
        """Replace all cuts by a partition into `groups` (names not listed stay connected
        to everyone). Blocks are kept."""
        cuts = partition_cuts([[self._port(n) for n in g] for g in groups])
        self._set_rules("partition", FaultRules(cuts, self.rules.blocked))

    def isolate(self, name: str) -> None:
        """Partition `name` from every other known port."""
        others = [n for n in self._ports if n != name]
        self.partition([name], others)

    def block(self, name: str) -> None:
        """Drop everything to and from `name`'s port."""
        blocked = self.rules.blocked | {self._port(name)}
        self._set_rules("block", FaultRules(self.rules.cuts, blocked))

    def unblock(self, name: str) -> None:
        """Undo `block(name)` (idempotent); other faults stay."""
        blocked = self.rules.blocked - {self._port(name)}
        self._set_rules("unblock", FaultRules(self.rules.cuts, blocked))

    def heal(self) -> None:
        """Remove every cut and block (idempotent)."""
        self._set_rules("heal", FaultRules())
