"""VM tier for the machine wing: a tiny busybox guest built here (no image build needed)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.machine.reaper import teardown_all
from harness.network.netns import list_netns

BUSYBOX = Path("/bin/busybox")
INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /lib/modules/*.ko; do [ -f "$m" ] && insmod "$m"; done
echo "BUSYBOX-READY $(cat /proc/uptime)"
exec setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
"""


def _newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A minimal newc cpio archive: (name, mode, data) entries plus the trailer."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        out += b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + raw
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


@pytest.fixture(scope="session")
def kernel() -> Path:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    if not kernels:
        pytest.skip("no kernel in /boot (apt-get install linux-image-amd64)")
    return kernels[-1]


@pytest.fixture(scope="session")
def busybox_initrd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed")
    d = stat.S_IFDIR | 0o755
    entries = [(name, d, b"") for name in ("bin", "proc", "sys", "dev")]
    entries += [("bin/busybox", stat.S_IFREG | 0o755, BUSYBOX.read_bytes()),
                ("init", stat.S_IFREG | 0o755, INIT.encode())]  # fmt: skip
    path = tmp_path_factory.mktemp("busybox") / "initrd.cpio"
    path.write_bytes(_newc(entries))
    return path


# virtio-blk for a guest with a disk (Debian builds them as modules), in load order; the
# kernel fixture picks /boot's newest kernel, whose modules these are.
DISK_MODULES = ("virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk")


@pytest.fixture(scope="session")
def busybox_disk_initrd(kernel: Path, busybox_initrd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox initrd plus the modules that let it see a virtio disk as /dev/vda."""
    release = kernel.name.removeprefix("vmlinuz-")
    found = {p.stem: p for p in (Path("/lib/modules") / release / "kernel" / "drivers").rglob("*.ko")}
    missing = [m for m in DISK_MODULES if m not in found]
    if missing:
        pytest.skip(f"no {', '.join(missing)} module for kernel {release} (apt-get install linux-image-amd64)")
    d = stat.S_IFDIR | 0o755
    entries = [(name, d, b"") for name in ("bin", "proc", "sys", "dev", "lib", "lib/modules")]
    entries += [("bin/busybox", stat.S_IFREG | 0o755, BUSYBOX.read_bytes()),
                ("init", stat.S_IFREG | 0o755, INIT.encode())]  # fmt: skip
    entries += [(f"lib/modules/{n}-{m}.ko", stat.S_IFREG | 0o644, found[m].read_bytes())
                for n, m in enumerate(DISK_MODULES)]  # fmt: skip
    path = tmp_path_factory.mktemp("busybox-disk") / "initrd.cpio"
    path.write_bytes(_newc(entries))
    return path


@pytest.fixture(autouse=True)
def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("VM tests run QEMU in network namespaces: need root")


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """After the test: tear down whatever it left registered, then check nothing is left."""
    yield
    teardown_all()
    mine = [n for n in list_netns() if f"-{os.getpid()}-" in n]
    assert mine == [], f"namespaces left behind: {mine}"
