"""VM tier: the snapshots several tests restore instead of booting, made once per session.

A boot under TCG is the VM tier's cost (one node ~70 s to every first boot done, three ~130 s):
each snapshot is made by one run of formed.py with `--save-snapshot`, checked by its own test
(tests/vm/compat: `test_a_booted_node_is_saved_for_the_other_scripts`,
`test_a_formed_cluster_is_saved_for_the_other_scripts`), and restored with `--from` (~7-12 s)
by the runs that need a booted node or a formed cluster, in tests/vm/compat and
tests/vm/harness/cluster alike."""

from __future__ import annotations

import os

import pytest

from tests.vm.runs import Saved, save_formed


def _saved(factory: pytest.TempPathFactory, name: str, nodes: int) -> Saved:
    if os.geteuid() != 0:
        pytest.skip("cluster-test runs QEMU in network namespaces: need root")
    return save_formed(factory.mktemp(name), nodes)


@pytest.fixture(scope="session")
def booted_node(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    """One node booted to its first boot done, saved (`--nodes 1` runs restore it)."""
    return _saved(tmp_path_factory, "booted-node", 1)


@pytest.fixture(scope="session")
def formed(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    """A formed three-node cluster, saved (`--nodes 3` runs and ClusterOptions(restore_from=)
    restore it)."""
    return _saved(tmp_path_factory, "formed", 3)
