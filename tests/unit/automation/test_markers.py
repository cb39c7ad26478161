"""Markers: atomic, checksummed, and a corrupt one is never trusted."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automation.errors import MarkerError
from automation.markers import MarkerStatus, MarkerStore, parse, render

NOW = datetime(2025, 12, 10, 10, 30, 45, tzinfo=UTC)


def store(tmp_path: Path, **kwargs: object) -> MarkerStore:
    return MarkerStore(tmp_path / "state", clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


def test_write_then_read(tmp_path: Path) -> None:
    markers = store(tmp_path)
    assert markers.ensure_directory() is None
    markers.write(".chainfire-joined")
    path = markers.path(".chainfire-joined")
    assert path.read_text().splitlines()[0] == "2025-12-10T10:30:45+00:00"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(markers.directory.stat().st_mode) == 0o700
    state = markers.read(".chainfire-joined")
    assert state.status is MarkerStatus.VALID and state.present and state.timestamp == NOW


def test_an_existing_directory_keeps_its_mode_and_a_wide_one_is_reported(tmp_path: Path) -> None:
    """fba never changes the mode of a directory it did not create (a typo'd --state-dir
    /var/lib, or `""`, the cwd, was chmod 0700)."""
    (tmp_path / "state").mkdir(mode=0o755)
    (tmp_path / "state").chmod(0o755)
    warning = store(tmp_path).ensure_directory()
    assert warning is not None and "0755" in warning and "used as it is" in warning
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o755


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777, 0o720])
def test_an_existing_directory_others_may_write_is_refused_unchanged(tmp_path: Path, mode: int) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state").chmod(mode)
    with pytest.raises(MarkerError, match="may write to it"):
        store(tmp_path).ensure_directory()
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == mode


@pytest.mark.parametrize(
    "name",
    [".chainfire-joined.tmp-99999999999999999999", ".chainfire-joined.tmp-²", ".chainfire-joined.tmp-٢٣"],
)
def test_temp_leftovers_with_no_plausible_pid_are_left_alone(tmp_path: Path, name: str) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / name).write_bytes(b"")
    store(tmp_path).ensure_directory(".chainfire-joined")
    assert (tmp_path / "state" / name).exists()


def test_a_directory_where_the_temp_file_goes_is_named_in_the_error(tmp_path: Path) -> None:
    markers = store(tmp_path)
    markers.ensure_directory()
    tmp = markers.path(f"..chainfire-joined.tmp-{os.getpid()}")  # write_atomic's: "." + the marker's name
    tmp.mkdir()
    with pytest.raises(MarkerError) as caught:
        markers.write(".chainfire-joined")
    assert str(tmp) in caught.value.message and "directory" in caught.value.message.lower()
    assert tmp.is_dir()  # not ours to remove


def test_a_dangling_symlink_marker_is_not_a_file(tmp_path: Path) -> None:
    markers = store(tmp_path)
    markers.ensure_directory()
    markers.path(".chainfire-joined").symlink_to(tmp_path / "nowhere")
    state = markers.read(".chainfire-joined")
    assert state.status is MarkerStatus.CORRUPT and "not a file" in state.detail and "symlink" in state.detail


def test_design_manual_marker_is_accepted_unverified() -> None:
    state = parse(".chainfire-joined", b"2025-12-10T10:30:45+00:00\n")
    assert state.status is MarkerStatus.UNVERIFIED and state.present


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n\n",
        b"garbage\n",
        b"2025-12-10T10:30:45+00:00\nsha256:00\n",
        b"\xff\xfe",
        b"2025-12-10\nsha256:x\nmore\n",
    ],
)
def test_corrupt_markers_are_not_trusted(raw: bytes) -> None:
    state = parse(".x", raw)
    assert state.status is MarkerStatus.CORRUPT and not state.present and state.detail


def test_crash_before_rename_leaves_no_marker(tmp_path: Path) -> None:
    class Crash(Exception):
        pass

    def crash() -> None:
        raise Crash

    markers = store(tmp_path, before_rename=crash)
    markers.ensure_directory()
    with pytest.raises(Crash):
        markers.write(".iam-initialized")
    assert markers.read(".iam-initialized").status is MarkerStatus.ABSENT
    # The next run (same pid reused after a reboot) still writes it.
    store(tmp_path).write(".iam-initialized")
    assert store(tmp_path).read(".iam-initialized").status is MarkerStatus.VALID


def test_crash_before_rename_keeps_the_previous_marker_whole(tmp_path: Path) -> None:
    store(tmp_path).ensure_directory()
    store(tmp_path).write(".flaredb-joined")
    before = store(tmp_path).path(".flaredb-joined").read_bytes()

    def crash() -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        MarkerStore(tmp_path / "state", clock=lambda: datetime(2030, 1, 1, tzinfo=UTC), before_rename=crash).write(
            ".flaredb-joined"
        )
    assert store(tmp_path).path(".flaredb-joined").read_bytes() == before


def test_remove(tmp_path: Path) -> None:
    markers = store(tmp_path)
    markers.ensure_directory()
    markers.write(".x")
    assert markers.remove(".x") is True
    assert markers.remove(".x") is False


@given(st.binary(max_size=300))
def test_any_marker_content_parses_without_raising(raw: bytes) -> None:
    state = parse(".x", raw)
    assert state.status in MarkerStatus


@given(st.datetimes(timezones=st.just(UTC)))
def test_rendered_markers_round_trip(when: datetime) -> None:
    state = parse(".x", render(when).encode())
    assert state.status is MarkerStatus.VALID
    assert state.timestamp == when.replace(microsecond=0)


@pytest.mark.timeout(10)  # a regression to a blocking open fails here instead of hanging
@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda p: __import__("os").mkfifo(p), "unreadable: a FIFO, not a regular file"),
        (lambda p: p.mkdir(), "unreadable: a directory, not a regular file"),
        (lambda p: p.symlink_to("/dev/zero"), "unreadable: a character device, not a regular file"),
        (lambda p: p.symlink_to(p), "unreadable: Too many levels of symbolic links"),
        (lambda p: p.write_bytes(b"2025-12-10T10:30:45+00:00\n" * 50_000), "too large (over 4096 bytes)"),
    ],
    ids=["fifo", "directory", "dev-zero", "symlink-loop", "huge"],
)
def test_a_marker_that_is_not_a_small_regular_file_is_corrupt_without_blocking(
    tmp_path: Path, make: object, detail: str
) -> None:
    """Opening a FIFO in a marker's place waited for a writer forever (`fba status` hung);
    a link to /dev/zero must not be read whole."""
    markers = store(tmp_path)
    markers.ensure_directory()
    make(markers.path(".chainfire-joined"))  # type: ignore[operator]
    state = markers.read(".chainfire-joined")
    assert state.status is MarkerStatus.CORRUPT and not state.present
    assert state.detail == detail


def test_write_all_atomic_changes_nothing_when_one_file_cannot_be_staged(tmp_path: Path) -> None:
    from automation.markers import write_all_atomic

    kept = tmp_path / "kept"
    kept.write_bytes(b"old")
    with pytest.raises(OSError) as caught:
        write_all_atomic([(kept, b"new", 0o600), (tmp_path / "missing-dir" / "f", b"x", 0o600)])
    assert caught.value.filename == str(tmp_path / "missing-dir" / "f")
    assert kept.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]  # the staged temp file is gone


def test_write_all_atomic_replaces_every_file(tmp_path: Path) -> None:
    from automation.markers import write_all_atomic

    (tmp_path / "a").write_bytes(b"old")
    write_all_atomic([(tmp_path / "a", b"new a", 0o600), (tmp_path / "b", b"new b", 0o644)])
    assert (tmp_path / "a").read_bytes() == b"new a" and (tmp_path / "b").read_bytes() == b"new b"
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_every_failed_write_carries_a_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # break6 #14: a disk-full marker write ended the step without `cause` on its last line.
    import errno
    import os

    from automation.errors import MarkerError
    from automation.spec.causes import Cause

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(MarkerError) as raised:
        MarkerStore(tmp_path).write(".chainfire-joined")
    assert raised.value.cause is Cause.STATE_NOT_WRITTEN
    assert "No space left on device" in raised.value.message
