"""Injection blob: validated on the host, unpacked by the guest reader (run here on a fake root)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from harness.errors import InfrastructureError
from harness.image import FW_CFG_NAME, INJECT_PATTERN, NodeInjection, write_injection
from tests.unit.harness.image.inject_reader import load_inject_reader


def _injection(**changes: object) -> NodeInjection:
    fields: dict[str, object] = {
        "hostname": "node02",
        "cluster_mac": "52:54:00:77:00:12",
        "cluster_cidr": "10.77.0.12/24",
        "hosts": {"node01": "10.77.0.11", "node02": "10.77.0.12", "node03": "10.77.0.13"},
        "cluster_config": b'{"node_id": "node02"}',
        "files": {
            "ca.crt": b"CA PEM",
            "node02.crt": b"CERT",
            "node02.key": b"S3CRET-KEY",
            "iam-bootstrap-token": b"S3CRET-TOKEN",
        },
        "authorized_keys": "ssh-ed25519 AAAAC3Nz test@host\n",
        "env": {"STANDIN_ADMIN_DELAY": 'say "hi" $HOME'},
        "failpoints": "join.after-add=crash",
    }
    fields.update(changes)
    return NodeInjection(**fields)  # type: ignore[arg-type]


def _run_reader(blob: Path, root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = load_inject_reader().main(["--source", str(blob), "--root", str(root), "--wait", "0", *extra])
    return code, capsys.readouterr().out


def test_fw_cfg_name_fits_qemu_limits() -> None:
    assert FW_CFG_NAME.startswith("opt/") and len(FW_CFG_NAME) <= 55


def test_round_trip_writes_secrets_0600_in_a_0700_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = write_injection(_injection(), tmp_path / "node02.inject")
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
    root = tmp_path / "root"
    code, out = _run_reader(blob, root, capsys)
    assert code == 0
    secrets = root / "etc/nixos/secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    expected = {"cluster-config.json", "ca.crt", "node02.crt", "node02.key", "iam-bootstrap-token"}
    assert {p.name for p in secrets.iterdir()} == expected  # no temp files left behind
    for path in secrets.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (secrets / "cluster-config.json").read_bytes() == b'{"node_id": "node02"}'
    assert (secrets / "node02.key").read_bytes() == b"S3CRET-KEY"
    match = INJECT_PATTERN.search(out)
    assert match is not None and match["status"] == "ok"
    assert "S3CRET" not in out  # names only on the console


def test_round_trip_host_network_ssh_and_env(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = write_injection(_injection(), tmp_path / "b")
    root = tmp_path / "root"
    _run_reader(blob, root, capsys)
    assert (root / "etc/hostname").read_text() == "node02\n"
    hosts = (root / "etc/hosts").read_text()
    assert "10.77.0.13\tnode03" in hosts and "127.0.0.1\tlocalhost" in hosts and "127.0.1.1" not in hosts
    keys = root / "root/.ssh/authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAAC3Nz test@host\n"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600 and stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    network = (root / "run/systemd/network/10-fba-cluster.network").read_text()
    assert "MACAddress=52:54:00:77:00:12" in network and "Address=10.77.0.12/24" in network
    env = (root / "run/first-boot-automation/env").read_text().splitlines()
    assert env == ['FBA_FAILPOINTS="join.after-add=crash"', 'STANDIN_ADMIN_DELAY="say \\"hi\\" \\$HOME"']


def test_nixos_layout_puts_root_keys_in_the_file_sshd_is_told_to_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # netboot/netboot-base.nix passes this flag (tests/integration/nix checks its ExecStart):
    # NixOS's sshd reads /etc/nixos/secrets/authorized_keys, not root's home.
    blob = write_injection(_injection(), tmp_path / "b")
    root = tmp_path / "root"
    code, out = _run_reader(blob, root, capsys, "--authorized-keys", "/etc/nixos/secrets/authorized_keys")
    assert code == 0, out
    keys = root / "etc/nixos/secrets/authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAAC3Nz test@host\n"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    assert not (root / "root").exists()
    assert (root / "etc/nixos/secrets/cluster-config.json").read_bytes() == b'{"node_id": "node02"}'


def test_no_fw_cfg_entry_boots_without_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run_reader(tmp_path / "absent", tmp_path / "root", capsys)
    assert code == 0
    match = INJECT_PATTERN.search(out)
    assert match is not None and match["status"] == "none"
    assert not (tmp_path / "root").exists()


def test_foreign_blob_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "b"
    blob.write_text(json.dumps({"format": "other/9"}))
    code, out = _run_reader(blob, tmp_path / "root", capsys)
    assert code == 1
    assert "FBA-INJECT error InjectError: blob format is 'other/9', expected 'fba-inject/1'" in out


def test_malformed_fields_are_all_reported(tmp_path: Path) -> None:
    bad = _injection(hostname="Node_1", cluster_mac="52-54", files={"../etc/shadow": b""}, env={"1X": "v"})
    with pytest.raises(InfrastructureError) as info:
        write_injection(bad, tmp_path / "b")
    message = str(info.value)
    for expected in (
        "hostname 'Node_1' is not a lowercase DNS label",
        "cluster_mac '52-54'",
        "files key '../etc/shadow'",
        "env key '1X'",
    ):
        assert expected in message


def test_oversized_blob_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match=r"over the 102400-byte fw_cfg budget"):
        write_injection(_injection(files={"big": b"x" * 90_000}), tmp_path / "b")
