"""The iPXE script for PXE boot of the Debian image."""

from __future__ import annotations

from harness.image.ipxe import boot_script


def test_script_boots_kernel_with_cmdline_and_named_initrd() -> None:
    script = boot_script(("console=ttyS0", "panic=-1"))
    assert script == "#!ipxe\nkernel vmlinuz console=ttyS0 panic=-1 initrd=node.img\ninitrd node.img\nboot\n"


def test_http_urls_keep_the_initrd_file_name() -> None:
    script = boot_script(
        ("console=ttyS0",), kernel="http://10.77.0.1:8080/vmlinuz", initrd="http://10.77.0.1:8080/node.img"
    )
    assert "kernel http://10.77.0.1:8080/vmlinuz console=ttyS0 initrd=node.img\n" in script
    assert "initrd http://10.77.0.1:8080/node.img\n" in script
