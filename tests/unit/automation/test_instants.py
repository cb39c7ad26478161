"""`automation.instants.read`: the shapes peers write a time in (break 11, H5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from automation import instants

WHEN = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20",  # zone-less: UTC
        "2023-11-14T23:13:20+01:00",
        1700000000,
        1700000000.0,
        "1700000000",
        1700000000000,  # milliseconds
        "2023-11-14 22:13:20 +0000 UTC",
        "2023-11-14 23:13:20 +0100 CET",
        "2023-11-14 22:13:20.000000999 +0000 UTC m=+0.000012345",
        "Tue, 14 Nov 2023 22:13:20 GMT",
        "Tue, 14 Nov 2023 23:13:20 +0100",
        "Tuesday, 14-Nov-23 22:13:20 GMT",
    ],
)
def test_every_common_shape_is_read(value: object) -> None:
    assert instants.read(value) == WHEN


def test_null_is_no_time() -> None:
    assert instants.read(None) is None


@pytest.mark.parametrize(
    "value", ["", "  ", "soon", "2023-13-45", "-5", "1e999", True, False, [1], {"at": 1}, -1, float("nan"), 1e300]
)
def test_a_present_value_that_is_no_time_is_refused(value: object) -> None:
    with pytest.raises(instants.UnreadableInstant):
        instants.read(value)
