"""A formed 3-node cluster saved once and restored (issue 16): it comes back formed (every
node's first boot done, three members, the data written before the save), on time (clocks
stepped), in its own namespace, and takes new writes; a snapshot made for another topology
is refused before anything starts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster, ClusterOptions
from harness.cluster.operational import wait_operational
from harness.cluster.snapshot import SnapshotMismatch
from harness.cluster.topology import Topology

pytestmark = pytest.mark.vm
CURL = "curl -sS --fail-with-body --max-time 10 --cacert /etc/nixos/secrets/ca.crt"
PUT = f"{CURL} -X PUT -H 'Content-Type: application/json' -d '{{\"value\": \"%s\"}}' https://node01:2479/kv/snap"
GET = f"{CURL} https://%s:2479/kv/snap"


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("clusters run QEMU in network namespaces: need root")


def test_a_formed_cluster_is_saved_and_restored_formed(tmp_path: Path) -> None:
    topology = Topology()
    snap = tmp_path / "snap"
    begin = time.monotonic()
    with Cluster(ClusterOptions(run_dir=tmp_path / "boot", topology=topology)) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        wait_operational(cluster)
        booted = time.monotonic() - begin
        cluster["node01"].wait_until_succeeds(PUT % "before-save", timeout=cluster.budget(60))
        saved = cluster.snapshot(snap)
        # The source goes on after the save (resumed, clocks stepped).
        cluster["node02"].wait_until_succeeds(f"{GET % 'node02'} | grep before-save", timeout=cluster.budget(60))
        first_namespace = cluster.fabric.name if cluster.fabric else None

    begin = time.monotonic()
    options = ClusterOptions(run_dir=tmp_path / "restored", topology=topology, restore_from=snap)
    with Cluster(options) as restored:
        restored.start_all()
        restored.wait_ready()
        answered = time.monotonic() - begin
        assert restored.fabric is not None and restored.fabric.name != first_namespace
        states = wait_operational(restored)
        operational = time.monotonic() - begin
        assert {n: s["status"] for n, s in states.items()} == dict.fromkeys(restored.nodes, "done"), states
        for node in restored:
            guest = float(node.succeed("date +%s.%N"))
            assert abs(guest - time.time()) < 10, f"{node.name}'s clock was not stepped: {guest}"
            assert "FBA-READY" not in node.get_console_log(), "a restore must not boot"
        restored["node03"].wait_until_succeeds(f"{GET % 'node03'} | grep before-save", timeout=restored.budget(60))
        restored["node01"].wait_until_succeeds(PUT % "after-restore", timeout=restored.budget(60))
        restored["node02"].wait_until_succeeds(f"{GET % 'node02'} | grep after-restore", timeout=restored.budget(60))
    print(f"\n3 nodes: boot to operational {booted:.0f} s; restore to SSH on every node {answered:.1f} s, "
          f"to operational {operational:.1f} s; {saved.summary()}")  # fmt: skip

    other = ClusterOptions(run_dir=tmp_path / "other", topology=Topology(join_nodes=1), restore_from=snap)
    with pytest.raises(SnapshotMismatch, match="made for another topology"), Cluster(other):
        pytest.fail("a snapshot of another topology was restored")
