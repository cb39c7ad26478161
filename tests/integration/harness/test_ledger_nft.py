"""NetLedger against the kernel: after any sequence of adds and removes, `nft list ruleset` in
a throwaway namespace holds exactly the rules of the active entries; a block made through the
fabric (Node.block's path) survives a partition of the others and its heal."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.network import Fabric
from harness.network.ledger import NetEntry, block, cut, isolate, partition
from harness.network.netns import list_netns
from tests.unit.harness.network.rule_listing import expected, parse_rules

PREFIX = f"fbld{os.getpid() % 10000}"
NAMES = ["n1", "n2", "n3", "n4"]
PORTS = {n: f"tap{i}" for i, n in enumerate(NAMES, 1)}  # iifname matches by name: no link needed


def kernel_rules(fabric: Fabric) -> tuple[set[tuple[str, str]], set[str], bool]:
    """From `nft list ruleset` in the namespace: drop pairs, blocked ports, table present."""
    text = fabric.exec(["nft", "list", "ruleset"]).stdout
    return (*parse_rules(text), "table bridge fba_faults" in text)


def expected_in_kernel(entries: list[NetEntry]) -> tuple[set[tuple[str, str]], set[str], bool]:
    return (*expected(entries, PORTS), bool(entries))


names = st.sampled_from(NAMES)
entries = st.one_of(
    st.builds(block, names),
    st.tuples(names, names).filter(lambda p: p[0] != p[1]).map(lambda p: cut(p[0], p[1])),
    st.builds(lambda n: isolate(n, NAMES), names),
    st.just(partition([["n1", "n2"], ["n3", "n4"]])),
)
ops = st.lists(st.one_of(st.tuples(st.just("add"), entries), st.tuples(st.just("remove"), st.integers(0, 9))),
               min_size=1, max_size=8)  # fmt: skip


def test_any_sequence_leaves_exactly_the_active_rules_in_the_kernel() -> None:
    with Fabric(prefix=PREFIX) as fabric:  # deleted on exit, also when an assertion fails
        fabric.ports.update(PORTS)

        @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(ops)
        def check(sequence: list[tuple[str, object]]) -> None:
            active: dict[int, NetEntry] = {}
            try:
                for op, arg in sequence:
                    if op == "add":
                        assert isinstance(arg, NetEntry)
                        active[fabric.faults.add(arg)] = arg
                    else:
                        assert isinstance(arg, int)
                        keys = sorted(active)
                        if keys:
                            key = keys[arg % len(keys)]
                            assert fabric.faults.remove(key)
                            del active[key]
                    assert kernel_rules(fabric) == expected_in_kernel(list(active.values()))
            finally:  # next example starts from an empty ledger
                for key in list(fabric.faults.entries):
                    fabric.faults.remove(key)
            assert kernel_rules(fabric) == (set(), set(), False)

        check()
    assert fabric.name not in list_netns()


def test_a_link_block_survives_a_partition_and_its_heal_in_the_kernel() -> None:
    with Fabric(prefix=PREFIX) as fabric:
        fabric.ports.update(PORTS)
        fabric.block("n3")  # what Node.block() calls
        key = fabric.faults.add(partition([["n1"], ["n2"]]))
        assert kernel_rules(fabric)[1] == {"tap3"}
        fabric.faults.remove(key)
        assert kernel_rules(fabric) == (set(), {"tap3"}, True)
        fabric.unblock("n3")
        assert kernel_rules(fabric) == (set(), set(), False)
    assert fabric.name not in list_netns()
