"""Fault rules rendered to nft text; ledger entries loaded as rules; idempotent heal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.network.ledger import NetLedger, block, cut, isolate, partition
from harness.network.nft import Cut, FaultRules, heal_script, partition_cuts

HEAL = "add table bridge fba_faults\ndelete table bridge fba_faults\n"
PORTS = {"node01": "tap1", "node02": "tap2", "node03": "tap3"}


def test_heal_script_is_idempotent_text() -> None:
    assert heal_script() == HEAL
    assert FaultRules().render() == HEAL


def test_isolate_renders_both_directions() -> None:
    applied: list[str] = []
    faults = NetLedger(PORTS, applied.append)
    faults.add(isolate("node03", list(PORTS)))
    assert applied[-1] == HEAL + (
        "table bridge fba_faults {\n"
        "\tchain cuts {\n"
        "\t\ttype filter hook forward priority 0; policy accept;\n"
        '\t\tiifname { "tap1", "tap2" } oifname "tap3" drop\n'
        '\t\tiifname "tap3" oifname { "tap1", "tap2" } drop\n'
        "\t}\n"
        "}\n"
    )


def test_one_way_cut() -> None:
    applied: list[str] = []
    faults = NetLedger(PORTS, applied.append)
    faults.add(cut(["node01"], ["node02"]))
    assert 'iifname "tap1" oifname "tap2" drop' in applied[-1]
    assert 'iifname "tap2" oifname "tap1"' not in applied[-1]


def test_block_adds_input_and_output_chains_and_unblock_removes() -> None:
    applied: list[str] = []
    faults = NetLedger(PORTS, applied.append)
    faults.block("node02")
    text = applied[-1]
    assert 'iifname "tap2" drop' in text and 'oifname "tap2" drop' in text
    assert "hook input" in text and "hook output" in text
    faults.unblock("node02")
    faults.unblock("node02")
    assert applied[-1] == HEAL and faults.rules.empty


def test_partition_keeps_blocks_and_cuts_and_removing_it_keeps_them_too() -> None:
    faults = NetLedger(PORTS, lambda _s: None)
    faults.block("node01")
    one_way = faults.add(cut(["node02"], ["node03"]))
    split = faults.add(partition([["node01", "node02"], ["node03"]]))
    tap2_tap3 = Cut(frozenset({"tap2"}), frozenset({"tap3"}))
    assert faults.rules.blocked == {"tap1"}
    assert faults.rules.cuts == partition_cuts([["tap1", "tap2"], ["tap3"]]) | {tap2_tap3}
    assert faults.remove(split) and not faults.remove(split)  # idempotent
    assert faults.rules == FaultRules(frozenset({tap2_tap3}), frozenset({"tap1"}))
    faults.remove(one_way)
    faults.unblock("node01")
    assert faults.rules.empty and faults.entries == {}
    assert [why for why, _ in faults.history] == ["add block", "add cut", "add partition", "remove partition",
                                                  "remove cut", "remove block"]  # fmt: skip


def test_unknown_name_and_overlapping_groups() -> None:
    faults = NetLedger(PORTS, lambda _s: None)
    with pytest.raises(HarnessError, match="no bridge port for 'node09'; known: node01, node02"):
        faults.block("node09")
    assert faults.history == []
    with pytest.raises(ValueError, match="overlap"):
        partition_cuts([["a", "b"], ["b"]])
    with pytest.raises(HarnessError, match=r"partition groups overlap: \['node02'\]"):
        partition([["node01", "node02"], ["node02", "node03"]])
    unused = block("node01")  # entries are data: building one loads nothing
    assert unused.blocked == {"node01"} and faults.history == []


def test_no_chain_named_fwd() -> None:
    faults = NetLedger(PORTS, lambda _s: None)
    faults.add(isolate("node01", list(PORTS)))
    assert "chain fwd" not in faults.rules.render()


@given(st.lists(st.sets(st.sampled_from(list("abcdefgh")), min_size=1), min_size=2, max_size=4))
def test_partition_separates_every_pair_of_groups(groups: list[set[str]]) -> None:
    seen: set[str] = set()
    disjoint = []
    for g in groups:
        g = g - seen
        seen |= g
        if g:
            disjoint.append(g)
    cuts = partition_cuts(disjoint)
    for a in disjoint:
        for b in disjoint:
            if a is not b:
                assert Cut(frozenset(a), frozenset(b)) in cuts
    assert len(cuts) == len(disjoint) * (len(disjoint) - 1)
