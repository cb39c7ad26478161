"""One real guest saved and restored (issue 16's bottom floor): RAM and disk come back, each
restore writes only its own overlay, and a damaged save is refused."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.errors import InfrastructureError
from harness.machine.config import NodeConfig
from harness.machine.node import Node
from harness.machine.qemu import DirectBoot, TapNic
from harness.machine.snapshot import MANIFEST, SavedState, overlay_disk
from harness.network import Fabric

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("no_leaks")]
PREFIX = f"fbsn{os.getpid() % 10000}"
MAC = "52:54:00:77:00:11"


def node_config(fabric: Fabric, state_dir: Path, kernel: Path, initrd: Path, disk: Path,
                restore: SavedState | None = None) -> NodeConfig:  # fmt: skip
    return NodeConfig(
        name="node01", state_dir=state_dir, memory_mb=256, disk=disk, restore=restore,
        boot=DirectBoot(kernel, initrd, "rdinit=/init quiet"),
        tap=TapNic(fabric.port("node01"), MAC), launch_prefix=fabric.exec_prefix,
    )  # fmt: skip


def ask(node: Node, command: str, token: str) -> str:
    """Run `command` on the guest's serial shell; the console text up to `token`."""
    node.send_console(f"{command}; echo {token}-$((6*7))\n")
    node.wait_for_console_text(rf"{token}-42", timeout=60)
    return node.get_console_log()


def restore(fabric: Fabric, saved: SavedState, state_dir: Path, kernel: Path, initrd: Path) -> tuple[Node, float]:
    begin = time.monotonic()
    disk = overlay_disk(saved, state_dir / "disk.qcow2")
    node = Node(node_config(fabric, state_dir, kernel, initrd, disk, saved),
                link=fabric, sock_factory=fabric.connect)  # fmt: skip
    node.start()
    node.resume(timeout=60)
    return node, time.monotonic() - begin


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_saved_guest_comes_back_with_its_ram_and_disk_and_restores_do_not_share_writes(
    kernel: Path, busybox_disk_initrd: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    with Fabric(["node01"], prefix=PREFIX) as fabric:
        node = Node(node_config(fabric, tmp_path / "boot", kernel, busybox_disk_initrd, disk),
                    link=fabric, sock_factory=fabric.connect)  # fmt: skip
        begin = time.monotonic()
        node.start()
        node.wait_for_console_text(r"BUSYBOX-READY", timeout=120)
        boot = time.monotonic() - begin
        ask(node, "echo ram-one > /ram.txt; echo disk-one | dd of=/dev/vda conv=fsync 2>/dev/null", "wrote")

        saved = node.save_state(tmp_path / "snap")
        assert node.qmp.query_status()["status"] == "postmigrate"  # paused until resume() or crash()
        node.crash()
        assert SavedState.at(tmp_path / "snap") == saved
        assert saved.disk is not None and saved.state_bytes > 0
        base = sha256(saved.disk)

        first, took = restore(fabric, saved, tmp_path / "r1", kernel, busybox_disk_initrd)
        print(f"\nbusybox boot to READY {boot:.2f} s, restore to running {took:.2f} s, "
              f"state {saved.state_bytes / 2**20:.1f} MiB, saved in {saved.seconds:.2f} s")  # fmt: skip
        text = ask(first, "cat /ram.txt; dd if=/dev/vda bs=8 count=1 2>/dev/null; echo", "back")
        assert "ram-one" in text and "disk-one" in text, text
        assert "BUSYBOX-READY" not in text, "a restore must not boot"
        ask(first, "echo disk-two | dd of=/dev/vda conv=fsync 2>/dev/null", "wrote")
        first.crash()
        # A later start of a restored node is a boot (a power cycle), on its own overlay.
        first.start()
        first.wait_for_console_text(r"BUSYBOX-READY", timeout=120)
        assert "disk-two" in ask(first, "dd if=/dev/vda bs=8 count=1 2>/dev/null; echo", "rebooted")
        first.crash()

        second, _ = restore(fabric, saved, tmp_path / "r2", kernel, busybox_disk_initrd)
        text = ask(second, "dd if=/dev/vda bs=8 count=1 2>/dev/null; echo", "again")
        assert "disk-one" in text and "disk-two" not in text, text
        second.crash()
    assert sha256(saved.disk) == base, "a restore wrote into the saved disk"


def test_a_saved_guest_can_go_on_running(kernel: Path, busybox_initrd: Path, tmp_path: Path) -> None:
    with Fabric(["node01"], prefix=PREFIX) as fabric:
        node = Node(NodeConfig(name="node01", state_dir=tmp_path / "n", memory_mb=256,
                               boot=DirectBoot(kernel, busybox_initrd, "rdinit=/init quiet"),
                               tap=TapNic(fabric.port("node01"), MAC), launch_prefix=fabric.exec_prefix),
                    link=fabric, sock_factory=fabric.connect)  # fmt: skip
        node.start()
        node.wait_for_console_text(r"BUSYBOX-READY", timeout=120)
        saved = node.save_state(tmp_path / "snap")
        assert saved.disk is None
        node.resume()
        assert "ongoing" in ask(node, "echo ongoing", "still")
        node.crash()


def test_a_damaged_save_is_refused(tmp_path: Path) -> None:
    # Shapes of a save cut short or changed later: no manifest, a truncated stream, a lost disk.
    snap = tmp_path / "snap"
    snap.mkdir()
    with pytest.raises(InfrastructureError, match="no finished guest save"):
        SavedState.at(snap)
    (snap / "state.zst").write_bytes(b"x" * 100)
    (snap / "disk.qcow2").write_bytes(b"q")
    (snap / MANIFEST).write_text('{"state": "state.zst", "disk": "disk.qcow2", "state_bytes": 100, "seconds": 1}')
    assert SavedState.at(snap).state_bytes == 100
    (snap / "state.zst").write_bytes(b"x" * 60)
    with pytest.raises(InfrastructureError, match="damaged: state.zst is 60 B"):
        SavedState.at(snap)
    (snap / "state.zst").write_bytes(b"x" * 100)
    (snap / "disk.qcow2").unlink()
    with pytest.raises(InfrastructureError, match="its disk is gone"):
        SavedState.at(snap)
