"""Boot the real node image twice under TCG: injection, SSH, persistent /var/lib.

Drives QEMU directly (no harness.machine) so the image wing is tested on its own. The
automation units are installed and enabled in the image but masked on this test's kernel
command line (`systemd.mask=`): whether they converge is the cluster tests' business, and a
join waiting out its budget would hold back the READY line here.
Boot 1: fresh disk -> formatted, injected hostname and secrets, key-only SSH works.
Boot 2: same disk -> not reformatted, the file written in boot 1 is there, boot=2,
and the SSH host key differs (keys are made per boot, never baked into the image).
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from automation.spec.units import AUTOMATION_UNITS
from harness.image import (
    FATAL_CONSOLE_PATTERN,
    FW_CFG_NAME,
    INJECT_PATTERN,
    PERSISTENT_DISK_SERIAL,
    READY_PATTERN,
    VARLIB_PATTERN,
    NetbootImage,
    NodeInjection,
    ensure_image,
    write_injection,
)

pytestmark = pytest.mark.vm

READY_BUDGET_S = 180.0
POWEROFF_BUDGET_S = 60.0
SSH_TIMEOUT_S = 30.0
CLUSTER_MAC = "52:54:00:77:00:11"
# A one-node bootstrap cluster (plain HTTP): enough for every unit to succeed, so the
# boot ends "running", not "degraded".
CLUSTER_CONFIG = {
    "node_id": "node07",
    "node_role": "all-in-one",
    "bootstrap": True,
    "cluster_name": "vmtest",
    "leader_url": "http://node07:2379",
    "raft_addr": "10.77.0.17:2380",
    "initial_peers": ["node07=10.77.0.17:2380"],
}


@dataclass(frozen=True)
class Booted:
    proc: subprocess.Popen[bytes]
    serial: Path
    ssh_port: int
    ready_after_s: float


@pytest.fixture(scope="module")
def image() -> NetbootImage:
    return ensure_image(log=print)


@pytest.fixture(scope="module")
def client_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _injection(key: Ed25519PrivateKey) -> NodeInjection:
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return NodeInjection(
        hostname="node07",
        cluster_mac=CLUSTER_MAC,
        cluster_cidr="10.77.0.17/24",
        hosts={"node07": "10.77.0.17", "node08": "10.77.0.18"},
        cluster_config=json.dumps(CLUSTER_CONFIG).encode(),
        files={"iam-bootstrap-token": b"SECRET-TOKEN-MATERIAL", "node07.key": b"SECRET-KEY-MATERIAL"},
        authorized_keys=public.decode() + " vm-test\n",
    )


def _qemu_argv(image: NetbootImage, blob: Path, disk: Path, serial: Path, port: int) -> list[str]:
    return [
        "qemu-system-x86_64",
        "-accel",
        "tcg,tb-size=256",
        "-m",
        "512",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        f"file:{serial}",
        "-kernel",
        str(image.kernel),
        "-initrd",
        str(image.initrd),
        "-append",
        " ".join([*image.cmdline, *(f"systemd.mask={u.name}" for u in AUTOMATION_UNITS)]),
        "-fw_cfg",
        f"name={FW_CFG_NAME},file={blob}",
        "-drive",
        f"file={disk},if=none,id=d0,format=qcow2",
        "-device",
        f"virtio-blk-pci,drive=d0,serial={PERSISTENT_DISK_SERIAL}",
        "-netdev",
        f"user,id=u0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device",
        "virtio-net-pci,netdev=u0",
        "-netdev",
        "user,id=c0,restrict=on",
        "-device",
        f"virtio-net-pci,netdev=c0,mac={CLUSTER_MAC}",
    ]


def _wait_ready(booted_proc: subprocess.Popen[bytes], serial: Path, started: float) -> str:
    """Serial text once READY appears; fails fast on a fatal console line or QEMU exit."""
    text = ""
    for _ in range(int(READY_BUDGET_S / 0.5) + 1):
        text = serial.read_text(errors="replace") if serial.exists() else ""
        if READY_PATTERN.search(text):
            return text
        fatal = FATAL_CONSOLE_PATTERN.search(text)
        if fatal or booted_proc.poll() is not None:
            pytest.fail(
                f"boot failed: {fatal.group(0) if fatal else f'QEMU exited {booted_proc.returncode}'}; "
                f"serial tail: {text[-1500:]}"
            )
        if time.monotonic() - started > READY_BUDGET_S:
            break
        time.sleep(0.5)
    pytest.fail(
        f"waiting for the FBA-READY line: not seen after {time.monotonic() - started:.0f}/"
        f"{READY_BUDGET_S:.0f} s; serial tail: {text[-1500:]}"
    )


@pytest.fixture
def boot(
    image: NetbootImage, client_key: Ed25519PrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    work = tmp_path_factory.mktemp("vm")
    disk = work / "varlib.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"], check=True, timeout=30)
    blob = write_injection(_injection(client_key), work / "node07.inject")
    procs: list[subprocess.Popen[bytes]] = []

    def start(n: int) -> Booted:
        serial = work / f"serial-{n}.log"
        port = _free_port()
        started = time.monotonic()
        proc = subprocess.Popen(
            _qemu_argv(image, blob, disk, serial, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(proc)
        _wait_ready(proc, serial, started)
        return Booted(proc, serial, port, time.monotonic() - started)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _ssh(booted: Booted, key: Ed25519PrivateKey, command: str) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # per-boot host keys, test-only VM
    try:
        client.connect(
            "127.0.0.1",
            port=booted.ssh_port,
            username="root",
            pkey=paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode())),
            timeout=SSH_TIMEOUT_S,
            banner_timeout=SSH_TIMEOUT_S,
            auth_timeout=SSH_TIMEOUT_S,
            allow_agent=False,
            look_for_keys=False,
        )
        _in, out, err = client.exec_command(command, timeout=SSH_TIMEOUT_S)
        status = out.channel.recv_exit_status()
        text = out.read().decode()
        assert status == 0, f"ssh {command!r} exited {status}: {err.read().decode()}"
        host_key = client.get_transport().get_remote_server_key().get_base64()  # type: ignore[union-attr]
        return f"{text}HOSTKEY {host_key}\n"
    finally:
        client.close()


def _poweroff(booted: Booted, key: Ed25519PrivateKey) -> None:
    _ssh(booted, key, "sync; systemctl --no-block poweroff")
    booted.proc.wait(timeout=POWEROFF_BUDGET_S)


def test_boot_injects_formats_and_persists(boot: object, client_key: Ed25519PrivateKey) -> None:
    start = boot  # fixture returns the start function
    first: Booted = start(1)  # type: ignore[operator]
    text = first.serial.read_text(errors="replace")
    ready = READY_PATTERN.search(text)
    assert ready is not None
    print(f"boot 1: FBA-READY after {first.ready_after_s:.1f} s: {ready.group(0)}")
    assert (ready["state"], ready["host"], ready["boot"], ready["varlib"]) == ("running", "node07", "1", "disk")
    assert "FBA-READY running" in text and "node07 login:" in text
    varlib = VARLIB_PATTERN.search(text)
    assert varlib is not None and varlib["action"] == "formatted"
    inject = INJECT_PATTERN.search(text)
    assert inject is not None and inject["status"] == "ok"
    assert "SECRET-KEY-MATERIAL" not in text and "SECRET-TOKEN-MATERIAL" not in text

    out1 = _ssh(
        first,
        client_key,
        "hostname; stat -c '%a %n' /etc/nixos/secrets /etc/nixos/secrets/*; "
        "findmnt -n -o FSTYPE /var/lib; ip -4 -o addr show; "
        "echo kept > /var/lib/fba/vm-test-marker; "
        "ls /etc/systemd/system/multi-user.target.wants/; "
        "/usr/bin/fba --help > /dev/null && echo FBA-CLI-OK; "
        "systemctl is-active chainfire.service flaredb.service iam.service || true",
    )
    print(f"boot 1 over ssh:\n{out1}")
    assert out1.splitlines()[0] == "node07"
    assert "700 /etc/nixos/secrets\n" in out1
    assert "600 /etc/nixos/secrets/cluster-config.json" in out1 and "600 /etc/nixos/secrets/node07.key" in out1
    assert "\next4\n" in out1
    assert re.search(r"inet 10\.77\.0\.17/24", out1), out1
    assert "FBA-CLI-OK" in out1  # guest python3 runs the project with the deps layer
    for unit in AUTOMATION_UNITS:  # rendered by `fba units render` and enabled
        assert f"\n{unit.name}\n" in out1, unit.name
    _poweroff(first, client_key)

    second: Booted = start(2)  # type: ignore[operator]
    text2 = second.serial.read_text(errors="replace")
    ready2 = READY_PATTERN.search(text2)
    assert ready2 is not None
    print(f"boot 2: FBA-READY after {second.ready_after_s:.1f} s: {ready2.group(0)}")
    assert (ready2["state"], ready2["boot"], ready2["varlib"]) == ("running", "2", "disk")
    varlib2 = VARLIB_PATTERN.search(text2)
    assert varlib2 is not None and varlib2["action"] == "existing"
    out2 = _ssh(second, client_key, "cat /var/lib/fba/vm-test-marker")
    assert out2.splitlines()[0] == "kept"
    assert out1.splitlines()[-1] != out2.splitlines()[-1], "SSH host key must differ per boot"
