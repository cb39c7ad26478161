"""The iPXE script that boots a Debian netboot image (the Debian-side twin of netboot/).

iPXE fetches `vmlinuz` and `node.img` from the same place it got the script (TFTP from QEMU
user networking, or http:// from the namespace's server), so names are relative by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.image.build import INITRD_FILE, NetbootImage
from harness.image.rootfs import KERNEL_FILE

SCRIPT_NAME = "boot.ipxe"


def boot_script(
    cmdline: Sequence[str],
    *,
    kernel: str = KERNEL_FILE,
    initrd: str = INITRD_FILE,
    extra: Sequence[str] = (),
) -> str:
    """An iPXE script: `kernel <kernel> <cmdline> initrd=<initrd>`, `initrd <initrd>`, `boot`.

    `kernel`/`initrd` may be relative names (TFTP) or http:// URLs. The `initrd=` argument
    names the initrd by its file name, as the kernel's EFI/iPXE loader expects.

    Example:
        boot_script(image.cmdline)            # for tftp=DIR,bootfile=boot.ipxe
        boot_script(image.cmdline, kernel="http://10.77.0.1:8080/vmlinuz",
                    initrd="http://10.77.0.1:8080/node.img")
    """
    name = initrd.rsplit("/", 1)[-1]
    args = " ".join([*cmdline, *extra, f"initrd={name}"])
    return f"#!ipxe\nkernel {kernel} {args}\ninitrd {initrd}\nboot\n"


def write_tftp_dir(image: NetbootImage, directory: Path, extra: Sequence[str] = ()) -> Path:
    """Fill `directory` with boot.ipxe, vmlinuz and node.img (symlinks to the cache).

    Returns the script's path. Point QEMU at it with
    `-netdev user,...,tftp=DIR,bootfile=boot.ipxe` and `bootindex=1` on the NIC.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name, source in ((KERNEL_FILE, image.kernel), (INITRD_FILE, image.initrd)):
        link = directory / name
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    script = directory / SCRIPT_NAME
    script.write_text(boot_script(image.cmdline, extra=extra))
    return script
