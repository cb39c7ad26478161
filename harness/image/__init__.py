"""Netboot images for the node VMs: Debian kernel + layered initrd + kernel command line.

Most to least important:

- `ensure_image()` -> `NetbootImage`: build or reuse the image (content-addressed cache).
- `NodeInjection`, `write_injection()`, `FW_CFG_NAME`: per-node config passed via fw_cfg.
- `READY_PATTERN`, `PERSISTENT_DISK_SERIAL`: what the guest prints and which disk it mounts.
- `boot_script()` (in `harness.image.ipxe`): the iPXE script for PXE boot.

See docs/images.md.
"""

from __future__ import annotations

from harness.image.build import NetbootImage, ensure_image
from harness.image.contract import (
    FATAL_CONSOLE_PATTERN,
    FW_CFG_NAME,
    INJECT_PATTERN,
    PERSISTENT_DISK_SERIAL,
    READY_PATTERN,
    VARLIB_PATTERN,
)
from harness.image.inject import NodeInjection, write_injection

__all__ = [
    "FATAL_CONSOLE_PATTERN",
    "FW_CFG_NAME",
    "INJECT_PATTERN",
    "PERSISTENT_DISK_SERIAL",
    "READY_PATTERN",
    "VARLIB_PATTERN",
    "NetbootImage",
    "NodeInjection",
    "ensure_image",
    "write_injection",
]
