"""QEMU machines: accelerator probe, argv, process, QMP, serial console, SSH, and `Node`.

Imports downward only (`harness.waits`, `harness.log`, `harness.errors`); the network wing
and the image wing are not imported: `Node` takes plain paths and values (a netboot image
fits the `BootImage` protocol). See docs/harness-api.md.
"""

from harness.machine.accel import Accel, AccelChoice, choose_accel
from harness.machine.config import BootImage, LinkControl, NodeConfig, direct_boot
from harness.machine.node import Node, NodeState
from harness.machine.qemu import DirectBoot, PxeBoot, QemuSpec, TapNic, UserNic, build_argv
from harness.machine.qmp import QmpSession
from harness.machine.ssh import CommandResult, SshKey, SshSession

__all__ = [
    "Node",
    "NodeState",
    "NodeConfig",
    "direct_boot",
    "BootImage",
    "LinkControl",
    "CommandResult",
    "SshKey",
    "SshSession",
    "QmpSession",
    "Accel",
    "AccelChoice",
    "choose_accel",
    "QemuSpec",
    "DirectBoot",
    "PxeBoot",
    "TapNic",
    "UserNic",
    "build_argv",
]
