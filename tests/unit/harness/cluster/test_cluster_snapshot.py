"""Cluster snapshots without VMs: what a snapshot is keyed by, and which directories
`load_cluster` refuses (the VM tier saves and restores a real cluster)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from harness.cluster.pki import CertificateAuthority
from harness.cluster.snapshot import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    FORMAT,
    MANIFEST,
    SSH_KEY_FILE,
    SnapshotMismatch,
    fingerprint,
    load_cluster,
)
from harness.cluster.topology import Topology
from harness.errors import InfrastructureError
from harness.machine.snapshot import MANIFEST as NODE_MANIFEST
from harness.machine.ssh import SshKey


@dataclass(frozen=True)
class Image:
    kernel: Path
    initrd: Path
    cmdline: str = "console=ttyS0"


@pytest.fixture
def image(tmp_path: Path) -> Image:
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd").write_bytes(b"initrd")
    return Image(tmp_path / "vmlinuz", tmp_path / "initrd")


def made_for(image: Image, topology: Topology | None = None, **changes: object) -> dict[str, str]:
    args: dict[str, object] = {"accel": "tcg", "memory_mb": 384, "qemu": "true"}
    return fingerprint(image, topology or Topology(), **{**args, **changes})  # type: ignore[arg-type]


def write_snapshot(directory: Path, parts: dict[str, str], nodes: tuple[str, ...] = ("node01",)) -> None:
    """A finished snapshot's files, with tiny stand-ins for the node saves."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in nodes:
        node = directory / name
        node.mkdir()
        (node / "state.zst").write_bytes(b"s" * 10)
        (node / NODE_MANIFEST).write_text(json.dumps({"state": "state.zst", "disk": None, "state_bytes": 10,
                                                      "seconds": 1.0}))  # fmt: skip
    SshKey.generate().write(directory / SSH_KEY_FILE)
    ca = CertificateAuthority()
    (directory / CA_CERT_FILE).write_bytes(ca.cert_pem)
    (directory / CA_KEY_FILE).write_bytes(ca.key_pem)
    manifest = {"format": FORMAT, "made_for": parts, "nodes": list(nodes), "bootstrap_token": "tok",
                "slowness_factor": 3.5, "saved_at": 0.0, "seconds": 2.0}  # fmt: skip
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_the_key_changes_with_each_part_it_is_made_for(image: Image, tmp_path: Path) -> None:
    base = made_for(image)
    assert made_for(image) == base
    others = [
        made_for(image, Topology(join_nodes=1)),
        made_for(image, Topology(tls=False)),
        made_for(image, memory_mb=512),
        made_for(image, accel="kvm"),
        made_for(Image(image.kernel, image.initrd, "console=ttyS0 quiet")),
    ]
    (tmp_path / "initrd").write_bytes(b"initrd, rebuilt")
    others.append(made_for(image))
    assert len({o["key"] for o in others} | {base["key"]}) == len(others) + 1


def test_a_snapshot_for_this_run_loads_with_its_secrets(image: Image, tmp_path: Path) -> None:
    parts = made_for(image)
    write_snapshot(tmp_path / "s", parts)
    snap = load_cluster(tmp_path / "s", expect=parts)
    assert list(snap.nodes) == ["node01"] and snap.slowness_factor == 3.5
    assert snap.secrets.bootstrap_token == "tok"
    # The restored CA issues certificates the saved CA certificate verifies.
    pair = snap.secrets.ca.issue("node04", ips=("10.77.0.14",))
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    saved_ca = x509.load_pem_x509_certificate((tmp_path / "s" / CA_CERT_FILE).read_bytes())
    cert.verify_directly_issued_by(saved_ca)


def test_a_snapshot_for_another_topology_is_refused_naming_it(image: Image, tmp_path: Path) -> None:
    write_snapshot(tmp_path / "s", made_for(image))
    with pytest.raises(SnapshotMismatch, match=r"made for another topology \(snapshot \w+, this run \w+\)"):
        load_cluster(tmp_path / "s", expect=made_for(image, Topology(join_nodes=1)))
    with pytest.raises(SnapshotMismatch, match="another memory_mb"):
        load_cluster(tmp_path / "s", expect=made_for(image, memory_mb=512))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / MANIFEST).unlink(), "no finished cluster snapshot"),
        (lambda d: (d / MANIFEST).write_text("{"), "no finished cluster snapshot"),
        (lambda d: (d / MANIFEST).write_text(json.dumps({**json.loads((d / MANIFEST).read_text()), "format": 99})),
         "snapshot format 99"),
        (lambda d: (d / "node01" / "state.zst").write_bytes(b"s"), "damaged: state.zst is 1 B"),
        (lambda d: (d / "node01" / NODE_MANIFEST).unlink(), "no finished guest save"),
        (lambda d: (d / CA_KEY_FILE).unlink(), "key material is unreadable"),
        (lambda d: (d / SSH_KEY_FILE).unlink(), "key material is unreadable"),
    ],
)  # fmt: skip
def test_a_damaged_snapshot_is_refused(image: Image, tmp_path: Path, damage: object, message: str) -> None:
    parts = made_for(image)
    write_snapshot(tmp_path / "s", parts)
    damage(tmp_path / "s")  # type: ignore[operator]
    # Damage is an infrastructure error (exit 3); another format is a snapshot for another harness (exit 4).
    with pytest.raises(SnapshotMismatch if "format" in message else InfrastructureError, match=message):
        load_cluster(tmp_path / "s", expect=parts)
