"""Reading an nft rule listing back, for the ledger tests (unit: the rendered script;
integration: `nft list ruleset` in a namespace). Independent of the renderer: it reads rules
line by line, so a renderer bug cannot hide in a shared helper."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from harness.network.ledger import NetEntry

_SET = r'(?:"(?P<{0}1>[^"]+)"|\{{ (?P<{0}s>[^}}]+) \}})'
FORWARD_PAIR = re.compile(rf"iifname {_SET.format('src')} oifname {_SET.format('dst')} drop")
WHOLE_PORT = re.compile(rf"^(?P<dir>iif|oif)name {_SET.format('p')} drop$")


def _ports(match: re.Match[str], group: str) -> set[str]:
    one = match.group(f"{group}1")
    return {one} if one else {p.strip().strip('"') for p in match.group(f"{group}s").split(",")}


def parse_rules(text: str) -> tuple[set[tuple[str, str]], set[str]]:
    """What a rule listing drops: (src port, dst port) pairs and whole ports (blocked both
    ways in every chain)."""
    pairs: set[tuple[str, str]] = set()
    whole: dict[str, set[str]] = {"iif": set(), "oif": set()}
    for raw in text.splitlines():
        line = raw.strip()
        if m := FORWARD_PAIR.fullmatch(line):
            pairs |= {(s, d) for s in _ports(m, "src") for d in _ports(m, "dst")}
        elif m := WHOLE_PORT.fullmatch(line):
            whole[m.group("dir")] |= _ports(m, "p")
    assert whole["iif"] == whole["oif"], text
    return pairs, whole["iif"]


def expected(entries: Iterable[NetEntry], ports: Mapping[str, str]) -> tuple[set[tuple[str, str]], set[str]]:
    """The model: drop pairs and blocked ports of the active entries, computed by hand."""
    listed = list(entries)
    pairs = {(ports[s], ports[d]) for e in listed for c in e.cuts for s in c.src for d in c.dst}
    return pairs, {ports[n] for e in listed for n in e.blocked}
