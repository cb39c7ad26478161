"""Markers say for whom they were written (issue 12, kind F), and stay readable in every older
form: the design's manual timestamp-only file and fba's two-line checksummed one."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automation.markers import MarkerStatus, MarkerStore, Ownership, parse
from automation.spec.markers import MarkerFormatError, MarkerIdentity, parse_marker, render_marker

ME = MarkerIdentity("node04", "plasma", "10.0.0.4:2380")
STAMP = "2026-11-30T23:00:00+00:00"


def test_a_new_marker_keeps_the_design_lines_and_adds_identity() -> None:
    lines = render_marker(STAMP, ME).splitlines()
    assert lines[0] == STAMP and lines[1].startswith("sha256:")
    assert lines[2:] == ["node_id=node04", "cluster_name=plasma", "raft_addr=10.0.0.4:2380"]
    content = parse_marker("\n".join(lines))
    assert content.identity == ME and content.checksummed


def test_older_forms_still_read_and_say_nothing_about_whom() -> None:
    two_lines = f"{STAMP}\nsha256:{hashlib.sha256(STAMP.encode()).hexdigest()}\n"
    assert render_marker(STAMP, None) == two_lines  # the checksum formula is unchanged for them
    for text, status in ((two_lines, MarkerStatus.VALID), (STAMP + "\n", MarkerStatus.UNVERIFIED)):
        state = parse(".chainfire-joined", text.encode())
        assert state.status is status and state.present
        assert state.ownership(ME) is Ownership.UNKNOWN


@pytest.mark.parametrize(
    ("identity", "ownership"),
    [
        (ME, Ownership.OURS),
        (MarkerIdentity("node05", "plasma", "10.0.0.4:2380"), Ownership.FOREIGN),
        (MarkerIdentity("node04", "lab2", "10.0.0.4:2380"), Ownership.FOREIGN),
        (MarkerIdentity("node04", "plasma", "10.0.0.5:2380"), Ownership.FOREIGN),
    ],
)
def test_ownership(identity: MarkerIdentity, ownership: Ownership) -> None:
    state = parse(".x", render_marker(STAMP, identity).encode())
    assert state.ownership(ME) is ownership
    if ownership is Ownership.FOREIGN:
        assert "this node:" in state.written_for(ME)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("node04", "node05"),  # identity changed, checksum not
        lambda t: t.replace("cluster_name=plasma\n", ""),  # a line dropped
        lambda t: t + "extra=1\n",  # a line added
    ],
)
def test_identity_lines_are_covered_by_the_checksum(edit: object) -> None:
    text = edit(render_marker(STAMP, ME))  # type: ignore[operator]
    with pytest.raises(MarkerFormatError):
        parse_marker(text)
    assert parse(".x", text.encode()).status is MarkerStatus.CORRUPT


def test_rewrite_keeps_the_first_timestamp(tmp_path: Path) -> None:
    markers = MarkerStore(tmp_path / "s", clock=lambda: datetime(2027, 1, 1, tzinfo=UTC))
    markers.ensure_directory()
    markers.path(".x").write_text(STAMP + "\n")
    state = markers.write(".x", ME, timestamp_line=markers.read(".x").timestamp_line)
    assert state.identity == ME and state.timestamp_line == STAMP


names = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)


@given(names, names, st.from_regex(r"10\.0\.[0-9]{1,3}\.[0-9]{1,3}:[0-9]{2,5}", fullmatch=True), st.datetimes())
def test_round_trip(node_id: str, cluster: str, raft: str, when: datetime) -> None:
    identity = MarkerIdentity(node_id, cluster, raft)
    line = when.replace(tzinfo=UTC).isoformat(timespec="seconds")
    content = parse_marker(render_marker(line, identity))
    assert content.identity == identity and content.timestamp_line == line
