"""What the image and the host agree on: fw_cfg name, console lines, disk serial, paths.

The guest side of each item lives in `guest/` (stdlib-only scripts and unit templates); the
host side (machine helper, tests, cluster-test) matches on these values.
"""

from __future__ import annotations

import re

# fw_cfg entry carrying one JSON blob per node (QEMU allows ~19 entries: bundle, don't split).
FW_CFG_NAME = "opt/fba/inject"
FW_CFG_SYSFS = f"/sys/firmware/qemu_fw_cfg/by_name/{FW_CFG_NAME}/raw"
INJECTION_FORMAT = "fba-inject/1"
# fw_cfg reads grow quadratically with size (64 KiB 0.2 s, 1 MiB 10 s): keep blobs small.
MAX_INJECTION_BYTES = 100 * 1024

# Serial console line written once `systemctl is-system-running --wait` returns, e.g.
# "FBA-READY running host=node01 boot=2 varlib=disk failed=-". Not anchored at line start:
# the getty's "node01 login: " prompt or a journal prefix ("sh[121]: ") may precede the line.
READY_PATTERN: re.Pattern[str] = re.compile(
    r"FBA-READY (?P<state>[a-z-]+) host=(?P<host>\S+) boot=(?P<boot>\d+) "
    r"varlib=(?P<varlib>\S+) failed=(?P<failed>\S+)"
)
# Serial console line of the /var/lib disk unit: formatted (first boot), existing, absent.
VARLIB_PATTERN: re.Pattern[str] = re.compile(r"FBA-VARLIB (?P<action>formatted|existing|absent)\b")
# Serial console line of the injection reader (names only, never contents).
INJECT_PATTERN: re.Pattern[str] = re.compile(r"FBA-INJECT (?P<status>ok|none|error)\b(?P<detail>[^\r\n]*)")
# Kernel messages that mean the boot cannot succeed: stop waiting at once.
FATAL_CONSOLE_PATTERN: re.Pattern[str] = re.compile(
    r"Initramfs unpacking failed|Kernel panic|VFS: Unable to mount root fs|FBA-INIT FATAL"
)

# virtio-blk serial of the optional persistent disk that holds /var/lib.
PERSISTENT_DISK_SERIAL = "varlib"

# Where the code layer puts things in the guest.
SITE_DIR = "opt/fba/site"
GUEST_LIB_DIR = "usr/local/lib/fba"
GUEST_BIN_DIR = "usr/local/bin"
SYSTEMD_DIR = "etc/systemd/system"
CLUSTER_NETWORK_FILE = "/run/systemd/network/10-fba-cluster.network"
