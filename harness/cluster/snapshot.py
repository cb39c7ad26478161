"""A formed cluster saved once and restored many times (issue 16): every node's RAM, devices
and disk (`harness.machine.snapshot`), plus what the host needs to bring the same cluster back
in a new namespace: its injection blobs, the SSH key its guests trust, the run's secrets (the
CA that signed the nodes' certificates, the IAM bootstrap token) and the slowness factor its
boot measured.

    snap = save_cluster(cluster, Path("snapshots/formed"))   # nodes paused; resume or down
    ClusterOptions(run_dir=..., restore_from=snap.directory) # Cluster.start_all() restores

A snapshot is keyed like an image: the key hashes the kernel and initrd, every node's config,
MAC and address, the accelerator, the guest RAM and the harness version. A restore whose key
differs is refused (a stale snapshot is rebuilt, never used), as is a snapshot whose manifest
(written last) is missing or whose files changed since (`SavedState.at`).

The saved nodes are paused together (QMP `stop` on each, then one save after another), so no
node sees another one's silence: Raft timers in a paused guest do not run. On restore every
node is loaded paused and all resume together; their wall clocks are then stepped to the
host's (QEMU stops guest time while a guest is not running, so a restored guest's clock is
where it was at the save).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cluster.pki import CertificateAuthority
from harness.cluster.topology import Secrets, Topology
from harness.errors import InfrastructureError, UsageError
from harness.image.tools import sha256_file
from harness.machine import qemu as qemu_argv
from harness.machine.config import BootImage
from harness.machine.snapshot import SavedState
from harness.machine.ssh import SshKey

if TYPE_CHECKING:  # the cluster imports this module; only its type is needed here
    from harness.cluster.cluster import Cluster

__all__ = ["ClusterSnapshot", "SnapshotMismatch", "fingerprint", "load_cluster", "save_cluster"]

MANIFEST = "cluster-snapshot.json"
FORMAT = 1
SSH_KEY_FILE = "ssh_key"
CA_CERT_FILE, CA_KEY_FILE = "ca.crt", "ca.key"
BLOB_FILE = "inject.json"


class SnapshotMismatch(UsageError):
    """A snapshot made for another image, topology, accelerator, RAM size or harness version:
    the snapshot named (`--from`) does not fit this run, a usage error (exit 4)."""


def _harness_version() -> str:
    try:
        return metadata.version("first-boot-automation")
    except metadata.PackageNotFoundError:  # a checkout run without installing it
        return "unknown"


def _devices() -> str:
    """The device set QEMU is started with: a restore must present exactly the devices that
    were saved, so a change to how argv is rendered (harness.machine.qemu) voids snapshots."""
    return sha256_file(Path(qemu_argv.__file__))[:16]


def _qemu_version(qemu: str) -> str:
    try:
        done = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InfrastructureError(f"cannot ask {qemu} for its version: {err}") from err
    return (done.stdout.splitlines() or ["?"])[0]


def fingerprint(
    image: BootImage, topology: Topology, *, accel: str, memory_mb: int, qemu: str = "qemu-system-x86_64"
) -> dict[str, str]:
    """What a snapshot must match to be restored, as named parts (compared part by part, so a
    refusal says which one differs); `key` is the hash of them all."""
    cmdline = image.cmdline if isinstance(image.cmdline, str) else " ".join(image.cmdline)
    nodes = {n.name: {"mac": n.mac, "cidr": n.cidr, "config": topology.cluster_config(n)} for n in topology.nodes}
    parts = {
        "kernel": sha256_file(Path(image.kernel)),
        "initrd": sha256_file(Path(image.initrd)),
        "cmdline": cmdline,
        "topology": hashlib.sha256(json.dumps(nodes, sort_keys=True).encode()).hexdigest(),
        "accel": accel,
        "memory_mb": str(memory_mb),
        "harness": _harness_version(),
        "devices": _devices(),
        "qemu": _qemu_version(qemu),
        "format": str(FORMAT),
    }
    parts["key"] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return parts


@dataclass(frozen=True)
class ClusterSnapshot:
    """A finished cluster snapshot in `directory`: per node its `SavedState` and injection
    blob, the SSH key and secrets of the run it came from, and what it was made for."""

    directory: Path
    nodes: Mapping[str, SavedState]
    blobs: Mapping[str, Path]
    ssh_key: SshKey
    secrets: Secrets
    slowness_factor: float
    made_for: Mapping[str, str]
    saved_at: float  # epoch seconds
    seconds: float

    def summary(self) -> str:
        size = sum(s.state_bytes + (s.disk.stat().st_size if s.disk else 0) for s in self.nodes.values())
        age = time.time() - self.saved_at
        return (f"snapshot {self.made_for.get('key', '?')} of {', '.join(self.nodes)}: "
                f"{size / 2**20:.0f} MiB, saved in {self.seconds:.1f} s, {age / 60:.0f} min ago")  # fmt: skip


def save_cluster(cluster: Cluster, directory: Path, *, timeout: float = 300.0) -> ClusterSnapshot:
    """Pause every node of `cluster` and save them, with what a restore needs, in `directory`
    (replaced if it held an older snapshot). The nodes stay paused: `cluster.resume_all()`
    goes on, `cluster.down()` ends them.

    Raises:
        InfrastructureError: a node is not running, or a save failed (no manifest is written:
            the directory is not a snapshot).
        WaitExpired: the saves did not end within `timeout` seconds.
    """
    if cluster.image is None or cluster.accel is None or not cluster.nodes:
        raise InfrastructureError("cluster snapshot: the cluster has not been brought up")
    begin = time.monotonic()
    made_for = cluster.fingerprint()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # from here on the old snapshot is void
    for node in cluster:  # all paused first: the saves then capture one instant of the cluster
        node.qmp.stop()
    nodes: dict[str, SavedState] = {}
    for node in cluster:
        left = max(1.0, timeout - (time.monotonic() - begin))
        nodes[node.name] = node.save_state(directory / node.name, timeout=left)
        if node.config.fw_cfg is not None:
            shutil.copyfile(node.config.fw_cfg, directory / node.name / BLOB_FILE)
    cluster.ssh_key.write(directory / SSH_KEY_FILE)
    (directory / CA_CERT_FILE).write_bytes(cluster.secrets.ca.cert_pem)
    key_file = directory / CA_KEY_FILE
    key_file.write_bytes(cluster.secrets.ca.key_pem)
    key_file.chmod(0o600)
    took = round(time.monotonic() - begin, 3)
    manifest = {
        "format": FORMAT,
        "made_for": made_for,
        "nodes": list(nodes),
        "bootstrap_token": cluster.secrets.bootstrap_token,
        "slowness_factor": cluster.slowness().factor,
        "saved_at": time.time(),
        "seconds": took,
    }
    partial = directory / f"{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=1) + "\n")
    partial.chmod(0o600)  # it holds the bootstrap token
    os.replace(partial, directory / MANIFEST)
    return load_cluster(directory)


def load_cluster(directory: Path, *, expect: Mapping[str, str] | None = None) -> ClusterSnapshot:
    """The finished snapshot in `directory`; with `expect` (a `fingerprint`), refused unless it
    was made for exactly that.

    Raises:
        SnapshotMismatch: made for something else (names each part that differs).
        InfrastructureError: not a finished snapshot, or a file of it is missing or changed.
    """
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
        names = [str(n) for n in manifest["nodes"]]
        made_for = {str(k): str(v) for k, v in manifest["made_for"].items()}
        token, factor = str(manifest["bootstrap_token"]), float(manifest["slowness_factor"])
        saved_at, took = float(manifest["saved_at"]), float(manifest["seconds"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise InfrastructureError(f"no finished cluster snapshot in {directory} ({MANIFEST}: {err})") from err
    if manifest.get("format") != FORMAT:
        raise SnapshotMismatch(f"{directory}: snapshot format {manifest.get('format')}, this harness reads {FORMAT}")
    if expect is not None:
        differ = sorted(k for k in expect if k != "key" and made_for.get(k) != expect[k])
        if differ:
            raise SnapshotMismatch(
                f"{directory}: the snapshot was made for another {', '.join(differ)} "
                f"(snapshot {made_for.get('key')}, this run {expect.get('key')}): make a new one"
            )
    nodes = {name: SavedState.at(directory / name) for name in names}
    blobs = {name: directory / name / BLOB_FILE for name in names if (directory / name / BLOB_FILE).is_file()}
    try:
        ssh_key = SshKey((directory / SSH_KEY_FILE).read_text(),
                         (directory / SSH_KEY_FILE).with_suffix(".pub").read_text().strip())  # fmt: skip
        ca_cert, ca_key = (directory / CA_CERT_FILE).read_bytes(), (directory / CA_KEY_FILE).read_bytes()
        ca = CertificateAuthority.from_pem(ca_cert, ca_key)
    except (OSError, ValueError) as err:
        raise InfrastructureError(f"cluster snapshot {directory}: its key material is unreadable: {err}") from err
    return ClusterSnapshot(directory, nodes, blobs, ssh_key, Secrets(ca, token), factor, made_for, saved_at, took)
