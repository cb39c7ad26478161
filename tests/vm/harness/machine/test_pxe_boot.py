"""PXE: the busybox guest boots through the virtio-net iPXE ROM from QEMU's TFTP (user NIC,
restrict=on), iPXE's own output reaching the console log via etc/sercon-port."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from harness.machine.config import NodeConfig
from harness.machine.node import Node
from harness.machine.qemu import PxeBoot, TapNic, write_sercon_port
from harness.network import Fabric

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("no_leaks")]
PREFIX = f"fbpx{os.getpid() % 10000}"
SCRIPT = """#!ipxe
kernel vmlinuz console=ttyS0 panic=-1 rdinit=/init quiet
initrd initrd.cpio
boot
"""


def test_pxe_boot_over_user_nic_tftp(kernel: Path, busybox_initrd: Path, tmp_path: Path) -> None:
    tftp = tmp_path / "tftp"
    tftp.mkdir()
    shutil.copy(kernel, tftp / "vmlinuz")
    shutil.copy(busybox_initrd, tftp / "initrd.cpio")
    (tftp / "boot.ipxe").write_text(SCRIPT)
    boot = PxeBoot(write_sercon_port(tmp_path / "sercon"), nic="user", tftp_dir=tftp)
    with Fabric(["node01"], prefix=PREFIX) as fabric:
        cfg = NodeConfig(
            name="node01", state_dir=tmp_path / "node01", boot=boot, memory_mb=256, ssh_port=2201,
            tap=TapNic(fabric.port("node01"), "52:54:00:77:00:11"), launch_prefix=fabric.exec_prefix,
        )  # fmt: skip
        node = Node(cfg, link=fabric, sock_factory=fabric.connect)
        begin = time.monotonic()
        node.start()
        node.wait_for_console_text(r"iPXE", timeout=60)
        node.wait_for_console_text(r"BUSYBOX-READY", timeout=180)
        print(f"\nPXE boot to console READY under TCG: {time.monotonic() - begin:.1f} s")
        assert "boot.ipxe" in node.get_console_log()
        node.crash()
