"""The node image keeps byte-code for the project's own Python: a unit start on a TCG guest
must not compile `automation/` first (and cannot cache what it compiled on a read-only root).

Builds the real code layer and reads it back: every module of `automation/` has a pyc for the
guest's CPython 3.11, hash-based and unchecked (valid whatever the file times in the image,
reproducible), made from that very source.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from harness.image.codelayer import CODE_ARCHIVE, build_code
from harness.image.contract import SITE_DIR
from harness.image.cpio import iter_newc
from harness.image.deps import GUEST_VERSION

ROOT = Path(__file__).resolve().parents[3]
UNCHECKED_HASH = 0b01  # pyc flags word (PEP 552): hash-based, check_source off

# Stays a skip: on another host Python `compile_tree` deliberately compiles nothing (a pyc of
# another version is useless to the guest), so there is nothing to check. The project's host
# (Debian 12, scripts/setup.sh) has the guest's 3.11, so the check runs there.
pytestmark = pytest.mark.skipif(
    sys.version_info[:2] != GUEST_VERSION, reason="pycs are compiled only by the guest's Python version"
)


def unpack(path: Path) -> bytes:
    """The cpio inside: the layer is padded to 4 bytes (initramfs concatenation) after the frame."""
    data = path.read_bytes()
    for pad in range(4):
        done = subprocess.run(["zstd", "-dc"], input=data[: len(data) - pad], capture_output=True, timeout=60)
        if done.returncode == 0:
            return done.stdout
    raise AssertionError(f"{path}: not a zstd frame followed by up to 3 padding bytes")


def test_code_layer_has_unchecked_hash_pycs_for_every_automation_module(tmp_path: Path) -> None:
    build_code(tmp_path, ROOT, frozenset(), lambda _line: None)
    archive = unpack(tmp_path / CODE_ARCHIVE)
    files = {entry.path: entry.data for entry in iter_newc(archive) if not entry.is_dir}
    tag = sys.implementation.cache_tag
    modules = sorted((ROOT / "automation").rglob("*.py"))
    assert modules
    for source in modules:
        relative = source.relative_to(ROOT)
        pyc = f"{SITE_DIR}/{relative.parent}/__pycache__/{relative.stem}.{tag}.pyc"
        assert pyc in files, f"no byte-code for {relative} in the image"
        data = files[pyc]
        assert data[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(data[4:8], "little") == UNCHECKED_HASH, f"{pyc}: not an unchecked-hash pyc"
        assert data[8:16] == importlib.util.source_hash(source.read_bytes()), f"{pyc}: compiled from other source"
