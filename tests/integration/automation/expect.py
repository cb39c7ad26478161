"""Checks shared by the `fba` integration tests (markers on disk, secrets in output, the IAM
credentials file)."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automation.spec.markers import (
    MARKER_MODE,
    STATE_DIR_MODE,
    MarkerIdentity,
    Service,
    Step,
    marker_name,
    parse_marker,
)

if TYPE_CHECKING:
    from .conftest import FbaResult, Node

JOINED = marker_name(Service.CHAINFIRE, Step.JOINED)
INITIALIZED = marker_name(Service.CHAINFIRE, Step.INITIALIZED)
FLAREDB_JOINED = marker_name(Service.FLAREDB, Step.JOINED)
IAM_INITIALIZED = marker_name(Service.IAM, Step.INITIALIZED)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_marker(path: Path, identity: MarkerIdentity | None = None) -> datetime:
    """A whole marker: ISO-8601 line, `sha256:` line, identity lines (those of `identity` when
    given), mode 0600, directory 0700."""
    assert path.is_file(), (
        f"marker {path.name} missing; directory holds {sorted(p.name for p in path.parent.iterdir())}"
    )
    assert mode_of(path) == MARKER_MODE, f"{path.name} mode {mode_of(path):04o}"
    assert mode_of(path.parent) == STATE_DIR_MODE, f"state dir mode {mode_of(path.parent):04o}"
    content = parse_marker(path.read_text(encoding="utf-8"))
    assert content.checksummed and content.identity is not None, path.read_text(encoding="utf-8")
    if identity is not None:
        assert content.identity == identity, f"{path.name} written for {content.identity}, expected {identity}"
    assert content.timestamp.tzinfo is not None, f"timestamp without zone: {content.timestamp_line}"
    return content.timestamp


def markers_in(directory: Path) -> list[str]:
    """Marker names present (temp files of an interrupted write and step locks excluded)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if ".tmp-" not in p.name and not p.name.endswith(".lock"))


def assert_no_secret(text: str, *secrets: str | None) -> None:
    for secret in secrets:
        if secret:
            assert secret not in text, f"a secret ({secret[:4]}...) appears in the output"


def credentials(node: Node) -> dict[str, Any]:
    """The node's IAM credentials file, parsed (a JSON object)."""
    value = json.loads(node.credentials_path.read_text())
    assert isinstance(value, dict)
    return value


def assert_iam_quiet(node: Node, *results: FbaResult) -> None:
    """No secret the fake IAM knows (bootstrap token, every user's password, every token it
    issued) appears in any of the runs' output."""
    with node.iam_state.lock:
        secrets = [node.iam_state.bootstrap_token, *(u["password"] for u in node.iam_state.users.values())]
        secrets += node.iam_state.issued
    for result in results:
        assert_no_secret(result.output, *secrets)
