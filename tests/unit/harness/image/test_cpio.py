"""Layer archives: only new directories, parents first, aligned, no merged-/usr shadowing."""

from __future__ import annotations

import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.image.cpio import CpioError, Entry, Layer, iter_newc, pad4, write_newc

BASE = {"etc", "usr", "usr/local", "usr/local/bin", "etc/systemd", "etc/systemd/system"}


def test_layer_lists_only_new_directories_parents_first() -> None:
    layer = Layer(BASE)
    layer.add_file("opt/fba/site/automation/cli.py", b"print()\n")
    layer.add_file("usr/local/bin/fba", b"#!/usr/bin/python3\n", executable=True)
    layer.add_symlink("etc/systemd/system/multi-user.target.wants/x.service", "/etc/systemd/system/x.service")
    names = [e.path for e in iter_newc(layer.to_bytes())]
    assert names == [
        "opt",
        "opt/fba",
        "opt/fba/site",
        "opt/fba/site/automation",
        "opt/fba/site/automation/cli.py",
        "usr/local/bin/fba",
        "etc/systemd/system/multi-user.target.wants",
        "etc/systemd/system/multi-user.target.wants/x.service",
    ]
    assert not any(e.is_dir and e.path in BASE for e in layer.entries)


def test_modes_and_symlink_targets_round_trip() -> None:
    layer = Layer(BASE)
    layer.add_file("usr/local/bin/fba", b"x", executable=True)
    layer.add_file("etc/secret", b"k", mode=0o600)
    layer.add_symlink("etc/link", "/usr/local/bin/fba")
    entries = {e.path: e for e in iter_newc(layer.to_bytes())}
    assert stat.S_IMODE(entries["usr/local/bin/fba"].mode) == 0o755
    assert stat.S_IMODE(entries["etc/secret"].mode) == 0o600
    assert entries["etc/link"].is_symlink and entries["etc/link"].data == b"/usr/local/bin/fba"


@pytest.mark.parametrize("path", ["lib/modules/x.ko", "bin/sh", "sbin/init", "lib64/ld.so"])
def test_merged_usr_links_are_refused(path: str) -> None:
    with pytest.raises(CpioError, match=r"merged-/usr symlink in the base; use the usr/ path instead"):
        Layer(BASE).add_file(path, b"")


@pytest.mark.parametrize("path", ["/etc/x", "../x", "etc/../../x", "."])
def test_escaping_paths_are_refused(path: str) -> None:
    with pytest.raises(CpioError, match="must be relative"):
        Layer(BASE).add_file(path, b"")


def test_duplicates_and_base_directories_are_refused() -> None:
    layer = Layer(BASE)
    layer.add_file("etc/a", b"")
    with pytest.raises(CpioError, match="listed twice"):
        layer.add_file("etc/a", b"")
    with pytest.raises(CpioError, match="listed twice"):
        layer.add_dir("usr/local")


def test_every_member_starts_aligned_and_bad_magic_is_reported() -> None:
    data = write_newc([Entry("a", stat.S_IFREG | 0o644, b"xyz"), Entry("bb", stat.S_IFREG | 0o644, b"12345")])
    assert len(data) % 4 == 0
    with pytest.raises(CpioError, match=r"bad magic b'garbag' at offset 0"):
        list(iter_newc(b"garbage!"))


def test_concatenated_archives_with_padding_parse_in_order() -> None:
    one = write_newc([Entry("etc/a", stat.S_IFREG | 0o644, b"1")])
    two = write_newc([Entry("etc/a", stat.S_IFREG | 0o644, b"2")])
    entries = list(iter_newc(one + b"\0" * 8 + two))
    assert [e.data for e in entries] == [b"1", b"2"]  # later archives win in the kernel


@given(st.binary(max_size=64))
def test_pad4_aligns_without_changing_content(blob: bytes) -> None:
    padded = pad4(blob)
    assert len(padded) % 4 == 0 and padded[: len(blob)] == blob and len(padded) - len(blob) < 4


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=5))
def test_file_contents_round_trip(contents: list[bytes]) -> None:
    layer = Layer(BASE)
    for i, data in enumerate(contents):
        layer.add_file(f"etc/f{i}", data)
    assert [e.data for e in iter_newc(layer.to_bytes())] == contents
