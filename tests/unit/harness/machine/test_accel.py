"""Accelerator choice: probe result, per-boot cache, require_kvm."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import KvmUnavailable
from harness.machine.accel import Accel, choose_accel


def test_falls_back_to_tcg_and_says_why(tmp_path: Path) -> None:
    choice = choose_accel(Path("/k"), cache_dir=tmp_path, probe=lambda _k: (False, "silent", 3.0))
    assert choice.accel is Accel.TCG
    assert choice.headline.startswith("ACCEL: TCG (software emulation")
    assert "silent" in choice.headline


def test_result_is_cached_per_boot(tmp_path: Path) -> None:
    calls: list[Path] = []

    def probe(k: Path) -> tuple[bool, str, float]:
        calls.append(k)
        return True, "banner", 0.4

    first = choose_accel(Path("/k"), cache_dir=tmp_path, probe=probe)
    second = choose_accel(Path("/k"), cache_dir=tmp_path, probe=probe)
    assert first.accel is second.accel is Accel.KVM
    assert len(calls) == 1 and second.cached and not first.cached
    assert second.headline == "ACCEL: KVM (hardware virtualization)"


def test_require_kvm_raises_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(KvmUnavailable, match="KVM required but unusable: silent; run on a host"):
        choose_accel(Path("/k"), require_kvm=True, cache_dir=tmp_path,
                     probe=lambda _k: (False, "silent", 3.0))  # fmt: skip


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    choose_accel(Path("/k"), cache_dir=tmp_path, probe=lambda _k: (False, "x", 1.0))
    for f in tmp_path.iterdir():
        f.write_text("{not json")
    again = choose_accel(Path("/k"), cache_dir=tmp_path, probe=lambda _k: (True, "y", 1.0))
    assert again.accel is Accel.KVM
