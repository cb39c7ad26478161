"""PXE: a one-node cluster boots the real netboot image through the virtio-net iPXE ROM
(QEMU's TFTP on a restricted user NIC), runs its first-boot units, and tears down cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster, ClusterOptions
from harness.cluster.topology import Topology
from harness.network.netns import list_netns

pytestmark = pytest.mark.vm


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("VM tests run QEMU in network namespaces: need root")


def test_one_node_cluster_boots_over_pxe(tmp_path: Path) -> None:
    options = ClusterOptions(run_dir=tmp_path / "pxe", topology=Topology(bootstrap_nodes=1), pxe=True)
    with Cluster(options) as cluster:
        cluster.start_all()
        node = cluster["node01"]
        node.wait_for_console_text(r"iPXE", timeout=120)
        cluster.wait_ready()
        log = node.get_console_log()
        assert "boot.ipxe" in log and "node.img" in log
        assert node.succeed("cat /proc/cmdline").find("initrd=node.img") >= 0
        out = node.succeed("fba status --wait --timeout 300 --format json", timeout=360)
        assert '"status":"done"' in out
        namespace = cluster.fabric.name if cluster.fabric else ""
    assert namespace not in list_netns()
