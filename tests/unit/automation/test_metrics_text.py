"""health-report's Prometheus textfile: label values escaped, one sample per check (break 9, F18)."""

from __future__ import annotations

import pytest

from automation.report import Check, label_value, metrics_text


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("chainfire:member", "chainfire:member"),
        ('x"} 0\nfba_cluster_healthy 1\n# ', 'x\\"} 0\\nfba_cluster_healthy 1\\n# '),
        ("a\\b", "a\\\\b"),
        ('\\"', '\\\\\\"'),  # an escaped quote in the input stays two characters, both escaped
        ("\\n", "\\\\n"),  # a backslash then n is not a line feed
    ],
)
def test_label_values_escape_backslash_quote_and_line_feed(text: str, label: str) -> None:
    assert label_value(text) == label


def test_a_crafted_check_name_adds_no_sample_and_duplicates_are_one_failed_sample() -> None:
    crafted = 'stale-member:chainfire:x"} 0\nfba_cluster_healthy 1\n# '
    checks = [
        Check("chainfire:member", True, ""),
        Check(crafted, False, ""),
        Check("stale-member:chainfire:node09", True, ""),
        Check("stale-member:chainfire:node09", False, ""),  # a list naming node09 twice
    ]
    lines = metrics_text(checks, healthy=False).split("\n")
    assert [line for line in lines if line.startswith("fba_cluster_healthy")] == ["fba_cluster_healthy 0"]
    samples = [line for line in lines if line.startswith("fba_check_ok")]
    assert samples == [
        'fba_check_ok{check="chainfire:member"} 1',
        'fba_check_ok{check="stale-member:chainfire:x\\"} 0\\nfba_cluster_healthy 1\\n# "} 0',
        'fba_check_ok{check="stale-member:chainfire:node09"} 0',
    ]
