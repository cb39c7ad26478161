"""Cache entries: built once, published atomically, a failed build leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import WaitTimeout
from harness.image import cache


def test_entry_is_built_once(tmp_path: Path) -> None:
    calls: list[Path] = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "out").write_text("x")

    entry = cache.Entry(tmp_path, "code", "abc")
    first = cache.ensure(entry, build, lambda _m: None)
    second = cache.ensure(entry, build, lambda _m: None)
    assert first == second == tmp_path / "code" / "abc"
    assert len(calls) == 1 and (first / "out").read_text() == "x"


def test_failed_build_leaves_no_entry_and_no_temp_dir(tmp_path: Path) -> None:
    def build(tmp: Path) -> None:
        (tmp / "half").write_text("x")
        raise RuntimeError("killed")

    entry = cache.Entry(tmp_path, "base", "abc")
    with pytest.raises(RuntimeError):
        cache.ensure(entry, build, lambda _m: None)
    assert not entry.exists()
    assert list((tmp_path / "base").iterdir()) == []


def test_stale_temp_dir_of_a_killed_build_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / "deps" / ".tmp-abc-99999"
    stale.mkdir(parents=True)
    cache.ensure(cache.Entry(tmp_path, "deps", "abc"), lambda t: None, lambda _m: None)
    assert not stale.exists()


def test_lock_wait_is_bounded_and_names_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "base-abc.lock"
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with cache.locked(lock), pytest.raises(WaitTimeout) as info:
        with cache.locked(lock, budget_s=2.0, clock=lambda: now[0], sleep=sleep):
            pass
    message = str(info.value)
    assert message.startswith(f"waiting for image cache lock {lock}: still held by pid ")
    assert "after 2/2 s (5 attempts)" in message


def test_clean_keeps_the_current_hashes(tmp_path: Path) -> None:
    for kind, key in (("base", "keep"), ("base", "old"), ("images", "keep")):
        (tmp_path / kind / key).mkdir(parents=True)
    removed = cache.clean(tmp_path, keep={"keep"})
    assert removed == [tmp_path / "base" / "old"]
    assert (tmp_path / "images" / "keep").is_dir()
