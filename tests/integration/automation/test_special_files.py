"""Every path `fba` reads (config, markers, secrets, certificates, the failpoint record,
provisioned files) may name a FIFO, a directory or a device instead of a file. Opening a FIFO
for reading waits for a writer, forever: each such path is refused (or, for a marker, not
trusted) at once, with a line naming what it is (`automation/regularfile.py`).

Every run has a short hard timeout: a regression to blocking fails the test instead of
hanging it.
"""

from __future__ import annotations

import os
from pathlib import Path

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, Node, cause
from .expect import JOINED, assert_marker

JOIN = ("join", "--service", "chainfire")
QUICK_S = 8.0  # far above a refusal (~0.3 s), far below a hang


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path, 0o600)
    return path


# The config ---------------------------------------------------------------------------------


def test_a_fifo_as_the_config_is_refused_by_every_command_at_once(fba: Fba) -> None:
    _fifo(fba.config_path)
    expected = {
        ("config", "validate"): ExitCode.CONFIG_INVALID,
        ("detect",): ExitCode.DETECT_CONFIG_ERROR,
        JOIN: ExitCode.INVALID,
    }
    for argv, code in expected.items():
        result = fba.run(*argv, timeout=QUICK_S)
        assert result.rc == code, result.describe()
        assert "a FIFO, not a regular file" in result.output, result.describe()
        assert len(result.output.strip().splitlines()) == 1, result.describe()


def test_a_config_linked_to_a_device_is_refused(fba: Fba) -> None:
    fba.config_path.symlink_to("/dev/zero")
    result = fba.run("config", "validate", timeout=QUICK_S)
    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    assert "a character device, not a regular file" in result.output


# Markers ------------------------------------------------------------------------------------


def test_a_fifo_marker_does_not_hang_status(fba: Fba) -> None:
    _fifo(fba.marker(JOINED))
    result = fba.run("status", "--timeout", "1", timeout=QUICK_S)
    assert result.rc == ExitCode.NOT_FINISHED, result.describe()


def test_a_fifo_marker_is_not_trusted_and_the_join_replaces_it(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())
    _fifo(fba.marker(JOINED))
    fba.state_dir.chmod(0o700)

    result = fba.run(*JOIN, timeout=QUICK_S * 2)

    assert result.rc == ExitCode.OK, result.describe()
    assert result.with_message("Marker corrupt", level="WARN"), result.describe()
    assert_marker(fba.marker(JOINED))


# IAM secrets --------------------------------------------------------------------------------


def test_a_fifo_as_the_bootstrap_token_is_refused(fba: Fba, node: Node) -> None:
    _fifo(node.token_path)
    fba.write_config(node.config())

    result = fba.run("iam-setup", timeout=QUICK_S)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "IAM bootstrap token unreadable" in result.output and "a FIFO" in result.output, result.describe()


def test_a_fifo_as_the_credentials_file_is_refused_and_kept(fba: Fba, node: Node) -> None:
    node.write_token()
    _fifo(node.credentials_path)
    fba.write_config(node.config())

    result = fba.run("iam-setup", timeout=QUICK_S)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "IAM credentials file unreadable" in result.output and "a FIFO" in result.output, result.describe()
    assert node.credentials_path.is_fifo()  # refused as it is, never replaced


# TLS files ----------------------------------------------------------------------------------


def test_a_fifo_as_the_ca_ends_the_join_as_invalid_configuration(fba: Fba, tls_node: Node, tmp_path: Path) -> None:
    tls_node.leader()
    ca = _fifo(tmp_path / "ca.pem")
    fba.write_config(tls_node.config(tls={"ca_cert_path": str(ca)}))

    result = fba.run(*JOIN, timeout=QUICK_S * 2)

    # A file that exists but cannot be loaded does not heal by restarting: exit 3 (break6 #15).
    assert result.rc == ExitCode.INVALID, result.describe()
    assert cause(result.last) == "invalid configuration", result.describe()
    assert "TLS set-up failed" in result.output and "a FIFO, not a regular file" in result.output


def test_a_fifo_as_a_certificate_fails_its_preflight_check(fba: Fba, tls_node: Node, tmp_path: Path) -> None:
    tls_node.leader()
    ca = _fifo(tmp_path / "ca.pem")
    fba.write_config(tls_node.config(tls={"ca_cert_path": str(ca)}))

    result = fba.run("preflight", timeout=QUICK_S * 2)

    assert result.rc == ExitCode.FAILED, result.describe()
    checks = {line["context"].get("check"): line["context"] for line in result.lines if "context" in line}
    assert checks["tls-ca"]["ok"] is False
    assert "a FIFO, not a regular file" in checks["tls-ca"]["detail"]


# The failpoint record and provisioned files ---------------------------------------------------


def test_a_fifo_as_the_failpoint_record_fires_nothing_and_does_not_hang(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())
    _fifo(fba.fired_file)

    result = fba.run(*JOIN, env={"FBA_FAILPOINTS": "join.before-request=exit:9"}, timeout=QUICK_S * 2)

    assert result.rc == ExitCode.OK, result.describe()  # no record, no firing
    assert_marker(fba.marker(JOINED))


def test_a_fifo_in_the_provision_destination_is_replaced_not_waited_on(fba: Fba, tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    (source / "token").write_bytes(b"new\n")
    _fifo(dest / "token")

    result = fba.run("provision", "--source", str(source), "--dest", str(dest), global_paths=False, timeout=QUICK_S)

    assert result.rc == ExitCode.OK, result.describe()
    assert (dest / "token").read_bytes() == b"new\n"
