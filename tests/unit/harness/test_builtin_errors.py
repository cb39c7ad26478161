"""Built-in exceptions raised inside the harness arrive as the `HarnessError` subclass that names
their exit code, with the original kept as `__cause__`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import Exit, exit_code
from harness.errors import InfrastructureError, UsageError
from harness.image import cache
from harness.machine.console import Console
from harness.network.netns import connect_in_netns
from harness.network.nft import partition_cuts
from harness.waits import seconds


def test_console_send_to_a_dead_serial_socket_is_infrastructure(tmp_path: Path) -> None:
    not_listening = tmp_path / "serial.sock"
    not_listening.write_text("")  # exists, but nothing listens: connect is refused
    with pytest.raises(InfrastructureError, match="is QEMU still running") as info:
        Console(tmp_path / "c.log", not_listening).send("x", timeout=2)
    assert isinstance(info.value.__cause__, OSError)


def test_connect_into_a_missing_namespace_is_infrastructure() -> None:
    with pytest.raises(InfrastructureError, match="cannot enter namespace fba-no-such-ns") as info:
        connect_in_netns("fba-no-such-ns", "127.0.0.1", 22, 1.0)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_image_cache_write_failure_is_infrastructure(tmp_path: Path) -> None:
    def build(_tmp: Path) -> None:
        raise PermissionError(13, "Permission denied", "rootfs")

    entry = cache.Entry(tmp_path, "base", "abc")
    with pytest.raises(InfrastructureError, match="image cache: building base abc") as info:
        cache.ensure(entry, build, lambda _msg: None)
    assert isinstance(info.value.__cause__, PermissionError)
    assert not entry.exists()


def test_image_cache_lock_in_an_unwritable_place_is_infrastructure(tmp_path: Path) -> None:
    blocker = tmp_path / "locks"
    blocker.write_text("")  # a file where the lock directory should be
    with pytest.raises(InfrastructureError, match="image cache lock") as info, cache.locked(blocker / "x.lock"):
        pass
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: partition_cuts([["tap1", "tap2"], ["tap2", "tap3"]]),
        lambda: cache.Entry(Path("/nonexistent"), "bogus", "k"),
        lambda: seconds(-1),
    ],
    ids=["nft-overlapping-groups", "cache-unknown-kind", "waits-negative-duration"],
)
def test_caller_bugs_are_usage_errors_and_still_value_errors(bad: object) -> None:
    assert callable(bad)
    with pytest.raises(UsageError) as info:
        bad()
    assert isinstance(info.value, ValueError)
    assert exit_code(info.value) is Exit.USAGE
