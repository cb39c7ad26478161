"""What a `Node` is made of: plain values and paths, no image or network internals.

`NodeConfig` is frozen data; `BootImage` is the protocol a netboot image satisfies
(`harness.image.NetbootImage` does: kernel, initrd, cmdline); `LinkControl` is what the
network wing hands a node so `block()`/`unblock()` can cut its cluster link.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.machine.accel import Accel
from harness.machine.qemu import DEFAULT_MEMORY_MB, DEFAULT_TB_SIZE_MB, DirectBoot, PxeBoot, QemuSpec, TapNic, UserNic
from harness.machine.snapshot import SavedState, incoming_args
from harness.machine.ssh import SshKey

__all__ = ["BootImage", "LinkControl", "NodeConfig", "SocketFactory", "direct_boot"]

SocketFactory = Callable[[str, int, float], socket.socket]


class BootImage(Protocol):
    """Anything with a kernel, an initrd and a kernel command line (a string or its words)."""

    @property
    def kernel(self) -> Path: ...
    @property
    def initrd(self) -> Path: ...
    @property
    def cmdline(self) -> str | Sequence[str]: ...


class LinkControl(Protocol):
    """Cuts and restores one node's cluster link (implemented by `harness.network`)."""

    def block(self, node: str) -> None: ...
    def unblock(self, node: str) -> None: ...


def direct_boot(image: BootImage, extra_cmdline: str = "") -> DirectBoot:
    """`DirectBoot` from a netboot image, with extra kernel arguments appended."""
    base = image.cmdline if isinstance(image.cmdline, str) else " ".join(image.cmdline)
    cmdline = f"{base} {extra_cmdline}".strip()
    return DirectBoot(kernel=Path(image.kernel), initrd=Path(image.initrd), cmdline=cmdline)


@dataclass(frozen=True)
class NodeConfig:
    """Inputs of one node. `state_dir` receives console.log, qmp.sock, serial.sock, qemu.log.

    `launch_prefix` confines QEMU, e.g. `("ip", "netns", "exec", "fba-123-ab")`;
    `ready_pattern` is a serial regex meaning "booted" (the image's READY_PATTERN), and
    `fatal_pattern` one meaning "this boot is lost" (FATAL_CONSOLE_PATTERN): fail at once;
    `ssh_host` is where the user NIC's forward listens (inside the namespace when confined);
    `outlive_parent`: QEMU is not tied to this process (`die_with_parent`), for a node that may be
    kept past it (`--keep`, `--keep-on-failure`): the tie is set at start and cannot be undone.
    """

    name: str
    state_dir: Path
    boot: DirectBoot | PxeBoot
    accel: Accel = Accel.TCG
    memory_mb: int = DEFAULT_MEMORY_MB
    tb_size_mb: int = DEFAULT_TB_SIZE_MB
    smp: int = 1
    ssh_port: int | None = None
    ssh_host: str = "127.0.0.1"
    ssh_user: str = "root"
    ssh_key: SshKey | None = None
    tap: TapNic | None = None
    user_mac: str | None = None
    disk: Path | None = None
    disk_serial: str = "varlib"
    fw_cfg: Path | None = None
    fw_cfg_name: str = "opt/fba/inject"
    launch_prefix: tuple[str, ...] = ()
    ready_pattern: str | re.Pattern[str] | None = None
    fatal_pattern: str | re.Pattern[str] | None = None
    boot_timeout: float = 300.0
    qemu: str = "qemu-system-x86_64"
    extra_qemu_args: tuple[str, ...] = field(default=())
    outlive_parent: bool = False
    # A saved guest (harness.machine.snapshot) the FIRST start loads instead of booting; `disk`
    # is then an overlay on its disk. A later start (a reboot, a start after crash()) boots.
    restore: SavedState | None = None

    def qemu_spec(
        self, *, allow_reboot: bool = False, sock_dir: Path | None = None, restoring: bool = False
    ) -> QemuSpec:
        """The `QemuSpec` for this node: logs under `state_dir`, sockets under `sock_dir`
        (default `state_dir`; unix socket paths must stay under 108 bytes); `restoring`: load
        `restore` (paused until `Node.resume`) instead of booting."""
        extra = self.extra_qemu_args
        if restoring and self.restore is not None:
            extra = (*incoming_args(self.restore), *extra)
        sockets = sock_dir or self.state_dir
        return QemuSpec(
            name=self.name,
            accel=self.accel,
            boot=self.boot,
            serial_log=self.state_dir / "console.log",
            serial_socket=sockets / "serial.sock",
            qmp_socket=sockets / "qmp.sock",
            memory_mb=self.memory_mb,
            tb_size_mb=self.tb_size_mb,
            smp=self.smp,
            cluster_nic=self.tap,
            user_nic=UserNic(self.ssh_port, self.user_mac) if self.ssh_port else None,
            disk=self.disk,
            disk_serial=self.disk_serial,
            fw_cfg=self.fw_cfg,
            fw_cfg_name=self.fw_cfg_name,
            allow_reboot=allow_reboot,
            qemu=self.qemu,
            extra=extra,
        )
