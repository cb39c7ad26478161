"""The real netboot image on a Node in a Fabric (TCG): SSH verbs, unit waits, bounded waits,
block/unblock at the bridge, clean shutdown, no leaks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import image as image_wing
from harness.driver import run_script
from harness.errors import CheckFailed, WaitTimeout
from harness.machine.accel import choose_accel
from harness.machine.config import NodeConfig, direct_boot
from harness.machine.node import Node
from harness.machine.qemu import TapNic
from harness.machine.snapshot import overlay_disk
from harness.machine.ssh import SshKey
from harness.network import Fabric

pytestmark = pytest.mark.vm

PREFIX = f"fbim{os.getpid() % 10000}"
MAC = "52:54:00:77:00:17"
CONFIG = {
    "node_id": "node07",
    "node_role": "all-in-one",
    "bootstrap": True,
    "cluster_name": "vmtest",
    "leader_url": "http://node07:2379",
    "raft_addr": "10.77.0.17:2380",
    "initial_peers": ["node07=10.77.0.17:2380"],
}


@dataclass(frozen=True)
class Booted:
    node: Node
    fabric: Fabric
    ready_after: float


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    image = image_wing.ensure_image(log=print)
    tmp = tmp_path_factory.mktemp("imgnode")
    key = SshKey.generate()
    blob = image_wing.write_injection(
        image_wing.NodeInjection(
            hostname="node07", cluster_mac=MAC, cluster_cidr="10.77.0.17/24",
            hosts={"node07": "10.77.0.17"}, cluster_config=json.dumps(CONFIG).encode(),
            files={}, authorized_keys=key.public_line + "\n",
        ),
        tmp / "inject.json",
    )  # fmt: skip
    disk = tmp / "varlib.qcow2"
    os.spawnvp(os.P_WAIT, "qemu-img", ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"])
    accel = choose_accel(Path(image.kernel))
    print(f"\n{accel.headline}")
    # node08: only its tap, for the restored copy of node07 (test_a_saved_node_restores_in_seconds)
    with Fabric(["node07", "node08"], prefix=PREFIX) as fabric:
        cfg = NodeConfig(
            name="node07", state_dir=tmp / "node07", boot=direct_boot(image), accel=accel.accel,
            ssh_port=2201, ssh_key=key, tap=TapNic(fabric.port("node07"), MAC), disk=disk,
            fw_cfg=blob, fw_cfg_name=image_wing.FW_CFG_NAME, launch_prefix=fabric.exec_prefix,
            ready_pattern=image_wing.READY_PATTERN, fatal_pattern=image_wing.FATAL_CONSOLE_PATTERN,
            boot_timeout=240,
        )  # fmt: skip
        node = Node(cfg, link=fabric, sock_factory=fabric.connect)
        begin = time.monotonic()
        node.start()
        node.wait_for_ready()
        ready = time.monotonic() - begin
        print(f"boot to READY under {accel.accel}: {ready:.1f} s")
        yield Booted(node, fabric, ready)
        node.crash()


def test_succeed_and_unit_verbs(booted: Booted) -> None:
    node = booted.node
    begin = time.monotonic()
    assert node.succeed("hostname").strip() == "node07"
    print(f"\nfirst command (ssh connect + run): {time.monotonic() - begin:.2f} s")
    node.wait_for_unit("multi-user.target", timeout=60)
    node.wait_for_unit("sshd.service" if node.execute("systemctl cat sshd.service")[0] == 0
                       else "ssh.service", timeout=60)  # fmt: skip
    assert node.read_file("/etc/hostname").strip() == "node07"
    assert node.unit_exit_status("systemd-journald.service")[1] == "success"
    assert node.unit_timestamps("multi-user.target")["ActiveEnterTimestampMonotonic"] > 0
    records = node.journal_json("systemd-journald.service")
    assert records and all("MESSAGE" in r or "__CURSOR" in r for r in records)
    rc, out = node.systemctl("is-system-running")
    assert out.strip() in {"running", "degraded"}
    assert node.is_up()


def test_wait_until_succeeds_sleep_999_is_bounded_in_real_time(booted: Booted) -> None:
    begin = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        booted.node.wait_until_succeeds("sleep 999", timeout=5)
    took = time.monotonic() - begin
    print(f"\nwait_until_succeeds('sleep 999', timeout=5) gave up after {took:.2f} s")
    assert took < 6.5
    assert "`sleep 999` to succeed on node07" in str(info.value)
    assert booted.node.succeed("echo still-usable").strip() == "still-usable"


def test_wait_for_unit_on_a_unit_nobody_starts_fails_after_the_grace(booted: Booted) -> None:
    begin = time.monotonic()
    with pytest.raises(CheckFailed) as info:
        booted.node.wait_for_unit("fba-never-started-test.service", timeout=60)
    assert time.monotonic() - begin < 20
    assert "inactive and there are no pending jobs" in str(info.value)
    assert "journal of fba-never-started-test.service" in str(info.value)


def test_block_and_unblock_cut_the_cluster_link(booted: Booted) -> None:
    fabric, node = booted.fabric, booted.node

    def reachable() -> bool:
        res = fabric.exec(["busybox", "ping", "-c", "1", "-W", "2", "10.77.0.17"], check=False)
        return res.returncode == 0

    node.wait_until_succeeds("ip -o addr show | grep -q 10.77.0.17", timeout=60)
    assert reachable()
    node.block()
    assert not reachable()
    assert node.succeed("echo ssh-still-works").strip() == "ssh-still-works"  # user NIC untouched
    node.unblock()
    assert reachable()


def test_copy_roundtrip(booted: Booted, tmp_path: Path) -> None:
    src = tmp_path / "hello.txt"
    src.write_text("from the host\n")
    booted.node.copy_from_host(src, "/tmp/hello.txt")
    back = booted.node.copy_from_vm("/tmp/hello.txt", "copies")
    assert back.read_text() == "from the host\n"


SIMPLE_NIX_SCRIPT = """
start_all()
machine.wait_for_unit("multi-user.target")
with subtest("commands"):
    machine.succeed("true")
    t.assertIn("node07", machine.succeed("hostname"))
    machine.fail("false")
"""


def test_driver_runs_a_nixos_shaped_script_unchanged(booted: Booted) -> None:
    driver = run_script(SIMPLE_NIX_SCRIPT, [booted.node], global_timeout=120)
    assert [(s.name, s.failure) for s in driver.subtests] == [("commands", None)]


def test_a_saved_node_restores_in_seconds_and_answers_over_ssh(booted: Booted, tmp_path: Path) -> None:
    # Issue 16's bottom floor on the real image: save node07, let it go on, and start a copy
    # from the save on node08's tap (the copy keeps node07's MAC and address; only SSH is used).
    node = booted.node
    node.succeed("echo before-save > /var/lib/fba-snapshot-test")
    saved = node.save_state(tmp_path / "snap")
    node.resume()
    assert node.succeed("cat /var/lib/fba-snapshot-test").strip() == "before-save"
    cfg = node.config
    begin = time.monotonic()
    copy = Node(dataclasses.replace(
        cfg, state_dir=tmp_path / "copy", ssh_port=2202, tap=TapNic(booted.fabric.port("node08"), MAC),
        disk=overlay_disk(saved, tmp_path / "copy" / "varlib.qcow2"), restore=saved,
    ), link=booted.fabric, sock_factory=booted.fabric.connect)  # fmt: skip
    try:
        copy.start()
        copy.resume()
        assert copy.succeed("cat /var/lib/fba-snapshot-test").strip() == "before-save"
        took = time.monotonic() - begin
        assert "READY" not in copy.get_console_log(), "a restore must not boot"
        copy.wait_for_unit("multi-user.target", timeout=30)
        print(f"\nreal node: boot to READY {booted.ready_after:.1f} s; restore to a command over SSH "
              f"{took:.1f} s; state {saved.state_bytes / 2**20:.0f} MiB saved in {saved.seconds:.1f} s")  # fmt: skip
    finally:
        copy.crash()


def test_clean_shutdown_is_quick_and_leaves_nothing(booted: Booted) -> None:
    node = booted.node
    begin = time.monotonic()
    node.shutdown()
    print(f"\nclean shutdown: {time.monotonic() - begin:.2f} s")
    assert not node.booted
