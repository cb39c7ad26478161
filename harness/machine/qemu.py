"""QEMU command lines as data: a frozen `QemuSpec` rendered by `build_argv`.

Fixed choices, and why:
- `-nodefaults -display none`: no VGA, no default NIC, no monitor on stdio.
- `-no-reboot` unless `allow_reboot`, and `panic=-1` on the kernel line: a guest panic or
  reboot ends QEMU instead of looping silently.
- `-m 384` and `-accel tcg,tb-size=64`, against a per-VM target of 512 MiB peak RSS. An
  operational node uses ~205-230 MiB (root on a squashfs, see harness.image.rootfs) and
  needs page cache besides: at `-m 320` a joining node whose join units restart under a
  partition thrashed until SSH timed out. TCG's translation cache defaults to 1 GiB; 64 MiB
  costs ~16 % boot time against 128. Numbers: bench/README.md.
- Serial goes to a unix socket (for `send_console`) with `logfile=` capturing every byte
  to the node's console log, whether or not anyone is connected.
- `-qmp unix:...,server=on,wait=off`: QEMU never waits for us.
- Virtio NICs that are not the PXE boot NIC get `romfile=` (no iPXE ROM to load).
- PXE: `bootindex=1` on the boot NIC, iPXE text on serial through `etc/sercon-port`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.machine.accel import Accel

DEFAULT_MEMORY_MB = 384
# A NixOS netboot image carries its whole squashfs store in the initrd (docs/nix.md): far
# more than the Debian image, whose root squashfs is ~56 MB (docs/images.md).
PREBUILT_MEMORY_MB = 1536
DEFAULT_TB_SIZE_MB = 64
# Below 256 MiB even the Debian image cannot unpack its initrd; above 8 GiB three nodes
# would not fit a CI machine.
MIN_MEMORY_MB, MAX_MEMORY_MB = 256, 8192
MIN_TB_SIZE_MB, MAX_TB_SIZE_MB = 16, 1024


def sizing_problem(memory_mb: int | None, tb_size_mb: int | None = None) -> str | None:
    """A one-line usage error for an out-of-range `--memory-mb`/`--tb-size`, else None."""
    if memory_mb is not None and not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        return f"--memory-mb: expected {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MiB per node, got {memory_mb}"
    if tb_size_mb is not None and not MIN_TB_SIZE_MB <= tb_size_mb <= MAX_TB_SIZE_MB:
        return f"--tb-size: expected {MIN_TB_SIZE_MB} to {MAX_TB_SIZE_MB} MiB, got {tb_size_mb}"
    return None

__all__ = [
    "DirectBoot",
    "PxeBoot",
    "QemuSpec",
    "TapNic",
    "UserNic",
    "SERCON_PORT_BYTES",
    "build_argv",
    "kernel_cmdline",
    "write_sercon_port",
]

SERCON_PORT_BYTES = b"\xf8\x03"
"""0x3f8 (COM1) little-endian: tells SeaBIOS/iPXE to mirror their text to ttyS0."""


@dataclass(frozen=True)
class DirectBoot:
    """`-kernel/-initrd/-append`: the default, fastest path."""

    kernel: Path
    initrd: Path
    cmdline: str = ""


@dataclass(frozen=True)
class PxeBoot:
    """Boot from the network through the virtio-net iPXE ROM.

    `nic` picks the NIC that boots: "cluster" (dnsmasq on the bridge serves DHCP/TFTP) or
    "user" (QEMU's own DHCP/TFTP from `tftp_dir`, with `bootfile`). `sercon_file` holds
    `SERCON_PORT_BYTES` (see `write_sercon_port`) so firmware output reaches the console log.
    """

    sercon_file: Path
    nic: str = "cluster"
    tftp_dir: Path | None = None
    bootfile: str = "boot.ipxe"


@dataclass(frozen=True)
class TapNic:
    """The cluster NIC: a tap on the run's bridge (created by the network fabric)."""

    ifname: str
    mac: str


@dataclass(frozen=True)
class UserNic:
    """Management NIC: slirp with `restrict=on`, SSH forwarded from 127.0.0.1:`ssh_port`."""

    ssh_port: int
    mac: str | None = None


@dataclass(frozen=True)
class QemuSpec:
    """Everything one QEMU process needs, as plain values. Rendered by `build_argv`."""

    name: str
    accel: Accel
    boot: DirectBoot | PxeBoot
    serial_log: Path
    serial_socket: Path
    qmp_socket: Path
    memory_mb: int = DEFAULT_MEMORY_MB
    smp: int = 1
    tb_size_mb: int = DEFAULT_TB_SIZE_MB
    cluster_nic: TapNic | None = None
    user_nic: UserNic | None = None
    disk: Path | None = None
    disk_serial: str = "varlib"
    fw_cfg: Path | None = None
    fw_cfg_name: str = "opt/fba/inject"
    allow_reboot: bool = False
    qemu: str = "qemu-system-x86_64"
    extra: tuple[str, ...] = ()


def kernel_cmdline(cmdline: str) -> str:
    """`cmdline` plus `console=ttyS0 panic=-1` unless it already sets them."""
    words = cmdline.split()
    if not any(w.startswith("console=") for w in words):
        words.append("console=ttyS0")
    if not any(w.startswith("panic=") for w in words):
        words.append("panic=-1")
    return " ".join(words)


def write_sercon_port(path: Path) -> Path:
    """Write the `etc/sercon-port` blob for PXE runs; returns `path`."""
    path.write_bytes(SERCON_PORT_BYTES)
    return path


def _accel_args(spec: QemuSpec) -> list[str]:
    if spec.accel is Accel.KVM:
        return ["-accel", "kvm"]
    return ["-accel", f"tcg,tb-size={spec.tb_size_mb}"]


def _nic_args(spec: QemuSpec) -> list[str]:
    args: list[str] = []
    pxe = spec.boot if isinstance(spec.boot, PxeBoot) else None
    if spec.cluster_nic is not None:
        nic = spec.cluster_nic
        boot = ",bootindex=1" if pxe is not None and pxe.nic == "cluster" else ",romfile="
        args += [
            "-netdev", f"tap,id=c0,ifname={nic.ifname},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=c0,mac={nic.mac}{boot}",
        ]  # fmt: skip
    if spec.user_nic is not None:
        user = spec.user_nic
        netdev = f"user,id=u0,restrict=on,hostfwd=tcp:127.0.0.1:{user.ssh_port}-:22"
        boot = ",romfile="
        if pxe is not None and pxe.nic == "user":
            if pxe.tftp_dir is not None:
                netdev += f",tftp={pxe.tftp_dir},bootfile={pxe.bootfile}"
            boot = ",bootindex=1"
        mac = f",mac={user.mac}" if user.mac else ""
        args += ["-netdev", netdev, "-device", f"virtio-net-pci,netdev=u0{mac}{boot}"]
    return args


def build_argv(spec: QemuSpec) -> list[str]:
    """The QEMU argv for `spec` (no shell; prefix it with `ip netns exec NS` to confine it)."""
    argv = [
        spec.qemu, "-name", spec.name,
        "-nodefaults", "-display", "none",
        *_accel_args(spec),
        "-m", str(spec.memory_mb), "-smp", str(spec.smp),
        "-chardev",
        f"socket,id=ser0,path={spec.serial_socket},server=on,wait=off,"
        f"logfile={spec.serial_log},logappend=on",
        "-serial", "chardev:ser0",
        "-qmp", f"unix:{spec.qmp_socket},server=on,wait=off",
    ]  # fmt: skip
    if not spec.allow_reboot:
        argv.append("-no-reboot")
    if isinstance(spec.boot, DirectBoot):
        argv += [
            "-kernel", str(spec.boot.kernel),
            "-initrd", str(spec.boot.initrd),
            "-append", kernel_cmdline(spec.boot.cmdline),
        ]  # fmt: skip
    else:
        argv += ["-fw_cfg", f"name=etc/sercon-port,file={spec.boot.sercon_file}"]
    argv += _nic_args(spec)
    if spec.disk is not None:
        argv += [
            "-drive", f"file={spec.disk},if=none,id=d0,format=qcow2",
            "-device", f"virtio-blk-pci,drive=d0,serial={spec.disk_serial}",
        ]  # fmt: skip
    if spec.fw_cfg is not None:
        argv += ["-fw_cfg", f"name={spec.fw_cfg_name},file={spec.fw_cfg}"]
    argv += list(spec.extra)
    return argv
