"""QEMU argv for KVM, TCG, direct boot and PXE."""

from __future__ import annotations

from pathlib import Path

from harness.machine.accel import Accel
from harness.machine.config import NodeConfig, direct_boot
from harness.machine.qemu import (
    SERCON_PORT_BYTES,
    DirectBoot,
    PxeBoot,
    QemuSpec,
    TapNic,
    UserNic,
    build_argv,
    kernel_cmdline,
    write_sercon_port,
)  # fmt: skip

P = Path("/r")


def spec(**kw: object) -> QemuSpec:
    base: dict[str, object] = dict(
        name="node01", accel=Accel.TCG, boot=DirectBoot(P / "k", P / "i", "init=/x"),
        serial_log=P / "console.log", serial_socket=P / "s.sock", qmp_socket=P / "q.sock",
    )  # fmt: skip
    base.update(kw)
    return QemuSpec(**base)  # type: ignore[arg-type]


def pairs(argv: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(argv, argv[1:], strict=False) if a.startswith("-")]


def test_tcg_direct_boot_defaults() -> None:
    argv = build_argv(spec())
    assert argv[0] == "qemu-system-x86_64"
    assert "-nodefaults" in argv and "-no-reboot" in argv
    p = pairs(argv)
    assert ("-display", "none") in p
    assert ("-accel", "tcg,tb-size=64") in p  # the 512 MiB per-VM target (bench/README.md)
    assert ("-m", "384") in p
    assert ("-kernel", "/r/k") in p and ("-initrd", "/r/i") in p
    assert ("-append", "init=/x console=ttyS0 panic=-1") in p
    assert ("-qmp", "unix:/r/q.sock,server=on,wait=off") in p
    assert ("-chardev", "socket,id=ser0,path=/r/s.sock,server=on,wait=off,"
            "logfile=/r/console.log,logappend=on") in p  # fmt: skip
    assert ("-serial", "chardev:ser0") in p
    assert not any("netdev" in a for a in argv)


def test_kvm_and_allow_reboot() -> None:
    argv = build_argv(spec(accel=Accel.KVM, allow_reboot=True))
    assert ("-accel", "kvm") in pairs(argv)
    assert "-no-reboot" not in argv
    assert not any(a.startswith("tcg") for a in argv)


def test_nics_disk_and_fw_cfg() -> None:
    argv = build_argv(spec(
        cluster_nic=TapNic("tap1", "52:54:00:00:00:11"), user_nic=UserNic(2201),
        disk=P / "d.qcow2", fw_cfg=P / "inj.bin",
    ))  # fmt: skip
    p = pairs(argv)
    assert ("-netdev", "tap,id=c0,ifname=tap1,script=no,downscript=no") in p
    assert ("-device", "virtio-net-pci,netdev=c0,mac=52:54:00:00:00:11,romfile=") in p
    assert ("-netdev", "user,id=u0,restrict=on,hostfwd=tcp:127.0.0.1:2201-:22") in p
    assert ("-device", "virtio-net-pci,netdev=u0,romfile=") in p
    assert ("-drive", "file=/r/d.qcow2,if=none,id=d0,format=qcow2") in p
    assert ("-device", "virtio-blk-pci,drive=d0,serial=varlib") in p
    assert ("-fw_cfg", "name=opt/fba/inject,file=/r/inj.bin") in p


def test_every_user_netdev_is_restricted_and_loopback_bound() -> None:
    argv = build_argv(spec(user_nic=UserNic(2202, "52:54:00:aa:00:01")))
    user = [a for a in argv if a.startswith("user,")]
    assert user and all("restrict=on" in u and "hostfwd=tcp:127.0.0.1:" in u for u in user)


def test_pxe_on_cluster_nic() -> None:
    argv = build_argv(spec(boot=PxeBoot(P / "sercon"), cluster_nic=TapNic("tap1", "52:54:00:00:00:11")))
    p = pairs(argv)
    assert "-kernel" not in argv
    assert ("-fw_cfg", "name=etc/sercon-port,file=/r/sercon") in p
    assert ("-device", "virtio-net-pci,netdev=c0,mac=52:54:00:00:00:11,bootindex=1") in p


def test_pxe_on_user_nic_with_tftp() -> None:
    boot = PxeBoot(P / "sercon", nic="user", tftp_dir=P / "tftp", bootfile="boot.ipxe")
    p = pairs(build_argv(spec(boot=boot, user_nic=UserNic(2203))))
    assert ("-netdev", "user,id=u0,restrict=on,hostfwd=tcp:127.0.0.1:2203-:22,"
            "tftp=/r/tftp,bootfile=boot.ipxe") in p  # fmt: skip
    assert ("-device", "virtio-net-pci,netdev=u0,bootindex=1") in p


def test_cmdline_keeps_given_console_and_panic() -> None:
    assert kernel_cmdline("console=hvc0 panic=5 x") == "console=hvc0 panic=5 x"


def test_sercon_blob(tmp_path: Path) -> None:
    assert write_sercon_port(tmp_path / "s").read_bytes() == SERCON_PORT_BYTES == b"\xf8\x03"


class Image:
    kernel = Path("/img/vmlinuz")
    initrd = Path("/img/initrd")
    cmdline = "init=/lib/systemd/systemd"


def test_node_config_from_image_protocol() -> None:
    cfg = NodeConfig(name="node02", state_dir=P / "n2", boot=direct_boot(Image(), "fba.node=2"),
                     ssh_port=2202, launch_prefix=("ip", "netns", "exec", "x"))  # fmt: skip
    s = cfg.qemu_spec(sock_dir=Path("/tmp/s"))
    assert s.boot == DirectBoot(Image.kernel, Image.initrd, "init=/lib/systemd/systemd fba.node=2")
    assert s.qmp_socket == Path("/tmp/s/qmp.sock") and s.serial_log == P / "n2" / "console.log"
    assert s.user_nic == UserNic(2202, None)
