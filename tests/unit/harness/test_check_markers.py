"""`harness.checks.check_markers` reads markers through `automation.spec` (issue 12, kind F)."""

from __future__ import annotations

import hashlib
import shlex

import pytest

from automation.spec.markers import DEFAULT_STATE_DIR, MarkerIdentity, render_marker
from harness.checks import check_markers, expected_markers
from harness.errors import CheckFailed

STAMP = "2026-11-30T23:00:00+00:00"
ME = MarkerIdentity("node04", "plasma", "10.0.0.4:2380")


class FakeNode:
    """Answers the two commands check_markers runs: `stat` of the dir, `stat && cat` of a marker."""

    name = "node04"

    def __init__(self, text: str) -> None:
        self.text = text

    def succeed(self, *commands: str, timeout: float | None = None) -> str:
        return "700\n"

    def execute(
        self, command: str, check_return: bool = True, check_output: bool = True, timeout: float | None = 900
    ) -> tuple[int, str]:
        assert shlex.quote(str(DEFAULT_STATE_DIR)) in command
        return 0, "600\n" + self.text


def test_markers_with_identity_pass() -> None:
    found = check_markers(FakeNode(render_marker(STAMP, ME)), bootstrap=False)  # type: ignore[arg-type]
    assert found == {name: STAMP for name in expected_markers(False)}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (f"{STAMP}\nsha256:{hashlib.sha256(STAMP.encode()).hexdigest()}\n", "says nothing about whom"),
        (STAMP + "\n", "says nothing about whom"),
        (render_marker(STAMP, ME).replace("node04", "node05"), "checksum"),
        ("yesterday\n", "ISO-8601"),
    ],
)
def test_markers_without_identity_or_valid_checksum_fail(text: str, said: str) -> None:
    with pytest.raises(CheckFailed, match=said):
        check_markers(FakeNode(text), bootstrap=False)  # type: ignore[arg-type]
