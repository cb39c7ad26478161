"""A sixth tester (break 11), H8: `fba status` quoted the first line of a marker whose path
leads to a secret file (the IAM bootstrap token, the config) in text and JSON, where every
other command refuses the layout (exit 3) without echoing it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import FBA, Fba, FbaResult, Node
from .expect import JOINED

SECRET = "s3cr3t-BOOTSTRAP-token-4f9a"


def _status(fba: Fba, *extra: str) -> FbaResult:
    argv = [str(FBA), "--config", str(fba.config_path), "--state-dir", str(fba.state_dir), "status", "--timeout", "1"]
    return fba._run([*argv, *extra], fba.env(), 10.0)


def _link(kind: str, target: Path, marker: Path) -> None:
    if kind == "symlink":
        marker.symlink_to(target)
    else:
        os.link(target, marker)


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_a_marker_that_is_the_bootstrap_token_is_named_never_quoted(fba: Fba, node: Node, kind: str) -> None:
    node.write_token(SECRET)
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    marker = fba.marker(JOINED)
    _link(kind, node.token_path, marker)

    text = _status(fba)
    document = _status(fba, "--format", "json")

    expected = f"chainfire: marker {marker} is the same file as iam.bootstrap_token_path; not trusted"
    assert text.rc == document.rc == ExitCode.NOT_FINISHED, text.describe()
    assert SECRET not in text.output and SECRET[:8] not in text.output, text.describe()
    assert SECRET not in document.output and SECRET[:8] not in document.output, document.describe()
    assert any(line.strip().startswith(expected) for line in text.stdout.splitlines()), text.describe()
    assert any(p.startswith(expected) for p in json.loads(document.stdout)["problems"])


def test_a_marker_hard_linked_to_the_config_is_named_never_quoted(fba: Fba, node: Node) -> None:
    config = node.config()
    config["notify_token"] = SECRET
    fba.write_config(json.dumps(config, separators=(",", ":")))
    fba.state_dir.mkdir(mode=0o700)
    marker = fba.marker(JOINED)
    os.link(fba.config_path, marker)

    text = _status(fba)

    assert text.rc == ExitCode.NOT_FINISHED, text.describe()
    assert SECRET[:8] not in text.output and '{"' not in text.output, text.describe()
    assert f"marker {marker} is the same file as the config file; not trusted" in text.stdout, text.describe()


def test_a_marker_of_another_role_is_named_even_when_the_config_cannot_be_read(fba: Fba, tmp_path: Path) -> None:
    """status reads no config to work; when it cannot, the secret still is not quoted."""
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    fba.state_dir.mkdir(mode=0o700)
    fba.marker(JOINED).symlink_to(secret_file)

    text = _status(fba)  # no config written

    assert text.rc == ExitCode.NOT_FINISHED, text.describe()
    assert SECRET[:8] not in text.output, text.describe()
    assert "first line is not an ISO-8601 timestamp" in text.stdout, text.describe()
