"""A formed 3-node cluster saved and restored (issue 16): it comes back formed (every node's
first boot done, three members, the data written before the save), on time (clocks stepped), in
its own namespace, and takes new writes; a restored cluster can be saved again; a snapshot made
for another topology is refused before anything starts.

The first save is the session's formed snapshot (tests/vm/conftest.py: cluster-test's
`--save-snapshot` after a boot), so this test boots nothing; only when that snapshot could not
be made does it boot and save a cluster itself (one path per source, then the same checks)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster, ClusterOptions
from harness.cluster.operational import wait_operational
from harness.cluster.snapshot import SnapshotMismatch
from harness.cluster.topology import Topology
from tests.vm.runs import Saved

pytestmark = pytest.mark.vm
CURL = "curl -sS --fail-with-body --max-time 10 --cacert /etc/nixos/secrets/ca.crt"
PUT = f"{CURL} -X PUT -H 'Content-Type: application/json' -d '{{\"value\": \"%s\"}}' https://node01:2479/kv/snap"
GET = f"{CURL} https://%s:2479/kv/snap"


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("clusters run QEMU in network namespaces: need root")


def formed_source(tmp_path: Path, formed: Saved, topology: Topology) -> Path:
    """The session's formed snapshot, or (when it could not be made) one booted and saved here."""
    if formed.path is not None:
        return formed.path
    snap = tmp_path / "booted-snap"
    with Cluster(ClusterOptions(run_dir=tmp_path / "boot", topology=topology)) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        wait_operational(cluster)
        cluster.snapshot(snap)
    return snap


def restored(tmp_path: Path, name: str, topology: Topology, snap: Path) -> Cluster:
    return Cluster(ClusterOptions(run_dir=tmp_path / name, topology=topology, restore_from=snap))


def test_a_formed_cluster_is_saved_and_restored_formed(tmp_path: Path, formed: Saved) -> None:
    topology = Topology()
    source = formed_source(tmp_path, formed, topology)
    again = tmp_path / "again"
    begin = time.monotonic()
    with restored(tmp_path, "first", topology, source) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        answered = time.monotonic() - begin
        states = wait_operational(cluster)
        operational = time.monotonic() - begin
        assert {n: s["status"] for n, s in states.items()} == dict.fromkeys(cluster.nodes, "done"), states
        for node in cluster:
            guest = float(node.succeed("date +%s.%N"))
            assert abs(guest - time.time()) < 10, f"{node.name}'s clock was not stepped: {guest}"
            assert "FBA-READY" not in node.get_console_log(), "a restore must not boot"
        cluster["node01"].wait_until_succeeds(PUT % "before-save", timeout=cluster.budget(60))
        saved = cluster.snapshot(again)  # a restored cluster saved again
        # The source goes on after the save (resumed, clocks stepped).
        cluster["node02"].wait_until_succeeds(f"{GET % 'node02'} | grep before-save", timeout=cluster.budget(60))
        first_namespace = cluster.fabric.name if cluster.fabric else None

    with restored(tmp_path, "second", topology, again) as second:
        second.start_all()
        second.wait_ready()
        assert second.fabric is not None and second.fabric.name != first_namespace
        wait_operational(second)
        for node in second:
            assert "FBA-READY" not in node.get_console_log(), "a restore must not boot"
        second["node03"].wait_until_succeeds(f"{GET % 'node03'} | grep before-save", timeout=second.budget(60))
        second["node01"].wait_until_succeeds(PUT % "after-restore", timeout=second.budget(60))
        second["node02"].wait_until_succeeds(f"{GET % 'node02'} | grep after-restore", timeout=second.budget(60))
    print(f"\n3 nodes: restore to SSH on every node {answered:.1f} s, to operational {operational:.1f} s; "
          f"{saved.summary()}")  # fmt: skip

    other = ClusterOptions(run_dir=tmp_path / "other", topology=Topology(join_nodes=1), restore_from=again)
    with pytest.raises(SnapshotMismatch, match="made for another topology"), Cluster(other):
        pytest.fail("a snapshot of another topology was restored")
