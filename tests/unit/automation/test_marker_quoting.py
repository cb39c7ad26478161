"""A marker's diagnostics quote its content only when it looks like a marker's timestamp:
a marker path that leads to a secret file (a mistaken `ln -s`, a hard link) printed the
secret's first line in `fba status` (break 11, H8)."""

from __future__ import annotations

import pytest

from automation.markers import parse
from automation.spec.markers import MarkerFormatError, parse_marker


@pytest.mark.parametrize(
    "text", ["s3cr3t-BOOTSTRAP-token-4f9a\n", '{"admin_password": "pw-123456"}\n', "123456789012\n", "pw 2026\n"]
)
def test_a_first_line_that_is_no_timestamp_is_not_quoted(text: str) -> None:
    secret = text.strip()
    with pytest.raises(MarkerFormatError) as err:
        parse_marker(text)
    assert secret not in str(err.value) and secret[:8] not in str(err.value)
    assert "first line is not an ISO-8601 timestamp" in str(err.value)
    assert secret[:8] not in parse(".chainfire-joined", text.encode()).detail


def test_a_near_timestamp_is_quoted_to_show_what_is_wrong() -> None:
    with pytest.raises(MarkerFormatError, match="'2026-13-45T10:30:45'"):
        parse_marker("2026-13-45T10:30:45\n")
