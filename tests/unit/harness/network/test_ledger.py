"""NetLedger: the loaded rules are exactly the fold of the active entries, after any sequence
of adds and removes; failed loads change nothing; every change is one transaction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError, InfrastructureError
from harness.faults.recorder import FaultRecorder
from harness.network.ledger import NetEntry, NetLedger, block, cut, isolate, partition
from harness.network.nft import heal_script
from tests.unit.harness.network.rule_listing import expected, parse_rules

NAMES = ["n1", "n2", "n3", "n4", "n5"]
PORTS = {n: f"tap{i}" for i, n in enumerate(NAMES, 1)}

names = st.sampled_from(NAMES)
groups = st.permutations(NAMES).flatmap(
    lambda order: st.integers(2, len(order)).flatmap(
        lambda size: st.lists(st.integers(1, size - 1), min_size=1, max_size=3, unique=True).map(
            lambda cuts: [list(order[a:b]) for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), size], strict=True)]
        )
    )
)
entries = st.one_of(
    st.builds(block, names),
    st.tuples(names, names).filter(lambda p: p[0] != p[1]).map(lambda p: cut(p[0], p[1])),
    st.builds(lambda n: isolate(n, NAMES), names),
    groups.map(partition),
)
ops = st.lists(st.one_of(st.tuples(st.just("add"), entries), st.tuples(st.just("remove"), st.integers(0, 9))),
               max_size=25)  # fmt: skip


@settings(max_examples=200)
@given(ops)
def test_any_sequence_leaves_exactly_the_rules_of_the_active_entries(sequence: list[tuple[str, object]]) -> None:
    scripts: list[str] = []
    ledger = NetLedger(PORTS, scripts.append)
    active: dict[int, NetEntry] = {}
    for op, arg in sequence:
        before = len(scripts)
        if op == "add":
            assert isinstance(arg, NetEntry)
            active[ledger.add(arg)] = arg
            loaded = 1
        else:
            assert isinstance(arg, int)
            keys = sorted(active)
            key = keys[arg % len(keys)] if keys else 999
            removed = ledger.remove(key)
            assert removed == (key in active)
            loaded = 1 if active.pop(key, None) is not None else 0
        assert len(scripts) - before == loaded  # one transaction per change, none for a no-op
        assert ledger.entries == active
        if scripts:
            script = scripts[-1]
            assert script.startswith(heal_script())  # the table is replaced, in the same transaction
            assert parse_rules(script) == expected(active.values(), PORTS)
    assert ledger.rules.empty == (not active)


def test_a_failed_load_changes_nothing_and_records_the_error() -> None:
    scripts: list[str] = []
    fail = [False]

    def apply(script: str) -> None:
        if fail[0]:
            raise InfrastructureError("nft: Error: Could not process rule")
        scripts.append(script)

    recorder = FaultRecorder()
    ledger = NetLedger(PORTS, apply, recorder=recorder)
    kept = ledger.add(block("n1"))
    fail[0] = True
    with pytest.raises(InfrastructureError):
        ledger.add(cut("n2", "n3"))
    with pytest.raises(InfrastructureError):
        ledger.remove(kept)
    assert list(ledger.entries) == [kept] and ledger.rules.blocked == {"tap1"}  # what the kernel still has
    failed = recorder.records[1]
    assert failed.kind == "cut" and not failed.active and failed.error and "inject failed" in failed.error
    assert recorder.records[0].active  # the block is still in force, its interval open
    fail[0] = False
    assert ledger.remove(kept) and not recorder.records[0].active
    assert scripts[-1] == heal_script()


def test_entries_are_checked_when_built() -> None:
    with pytest.raises(HarnessError, match=r"partition groups overlap: \['n2'\]"):
        partition([["n1", "n2"], ["n2", "n3"]])
    with pytest.raises(HarnessError, match="at least two non-empty groups"):
        partition([["n1", "n2"], []])
    with pytest.raises(HarnessError, match=r"unknown node\(s\) \['n9'\]"):
        partition([["n1"], ["n9"]], known=NAMES)
    with pytest.raises(HarnessError, match="expected a list of lists"):
        partition(["n1", "n2"])  # type: ignore[list-item]
    with pytest.raises(HarnessError, match="on both sides"):
        cut("n1", ["n1", "n2"])
    with pytest.raises(HarnessError, match="no other node"):
        isolate("n1", ["n1"])
    ledger = NetLedger(PORTS, lambda _s: None)
    with pytest.raises(HarnessError, match="no bridge port for 'n9'"):
        ledger.add(cut("n1", "n9"))
    assert ledger.history == []
