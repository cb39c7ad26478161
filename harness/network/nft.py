"""Network fault rules as data: bridge-family nftables rules in the run's namespace.

The only renderer of rule text. All faults live in one table, `bridge fba_faults`, rebuilt
from a `FaultRules` value (bridge port names) and loaded atomically with one `nft -f`
transaction ("add table; delete table; table {...}"): the kernel swaps the old rule set for
the new one in a single commit, so applying is idempotent and no half-applied state (and no
moment with no rules) is ever visible to frames. Frames are dropped at the bridge, so
established TCP flows are cut too, not just new ones.

`FaultRules` is what is in force, not who asked for it: `harness.network.ledger.NetLedger`
owns the faults (one entry per fault) and loads the fold of its entries through `render()`.

- `Cut(src, dst)`: one-way, frames from a `src` port to a `dst` port are dropped.
- `blocked`: those ports drop everything, including to and from the host side of the bridge.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.errors import UsageError

__all__ = ["Cut", "FaultRules", "NetFaultError", "TABLE", "heal_script", "partition_cuts"]

TABLE = "fba_faults"


class NetFaultError(UsageError):
    """A network fault that cannot exist: overlapping partition groups, an unknown node, an
    argument of the wrong shape. Raised when the fault is built (at plan time for schedules),
    before anything is recorded or loaded."""


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
    """Cuts that separate every group from every other, both ways.

    Raises:
        NetFaultError: two groups share a name (a name cannot be on both sides of a cut).
    """
    sets = [frozenset(g) for g in groups]
    for a, b in itertools.combinations(sets, 2):
        if a & b:
            raise NetFaultError(f"partition groups overlap: {sorted(a & b)}; a node can be in one group only")
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
