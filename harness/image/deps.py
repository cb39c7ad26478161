"""The Python dependencies layer: node-side runtime libraries for the guest's python3.

pip installs manylinux wheels for CPython 3.11 (the image's Debian python3) into
/opt/fba/site, whatever the host's own Python is; pure-Python packages that publish only an
sdist (pysyncobj) are installed in a second, platform-free step. Everything is byte-compiled
on the host with unchecked-hash pycs, so the guest does not compile pydantic on every boot
under TCG (same 3.11 bytecode, and the layer is rebuilt whenever its sources change).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from harness.image.contract import SITE_DIR
from harness.image.cpio import Layer, pad4
from harness.image.recipe import GUEST_PYTHON, DepsRecipe
from harness.image.tools import run, zstd

DEPS_ARCHIVE = "deps.cpio.zst"
PIP_TIMEOUT_S = 900.0
GUEST_VERSION = tuple(int(p) for p in GUEST_PYTHON.split("."))
DIRS_FILE = "dirs.json"
PIP_COMMON = ("--quiet", "--disable-pip-version-check", "--no-warn-script-location", "--no-compile")


def pip_argv(recipe: DepsRecipe, target: Path, python: str = sys.executable) -> list[list[str]]:
    """The pip commands that fill `target` (binary wheels, then pure sdists)."""
    commands: list[list[str]] = []
    if recipe.binary:
        cmd = [python, "-m", "pip", "install", *PIP_COMMON, "--target", str(target),
               "--only-binary=:all:", "--python-version", recipe.python_version,
               "--implementation", "cp", "--abi", f"cp{recipe.python_version.replace('.', '')}",
               "--abi", "abi3", "--abi", "none"]
        for platform in recipe.platforms:
            cmd += ["--platform", platform]
        commands.append([*cmd, *recipe.binary])
    if recipe.pure:
        commands.append([python, "-m", "pip", "install", *PIP_COMMON, "--target", str(target),
                         "--no-deps", "--upgrade", *recipe.pure])
    return commands


def compile_tree(target: Path, guest_dir: str, python: str = sys.executable) -> bool:
    """Byte-compile for 3.11 with hash-based pycs (valid whatever the files' mtimes are).

    `-s/-p` record the guest path in the pycs, so tracebacks name /opt/fba/site/...
    Returns False (and compiles nothing) when the host Python is not the guest's 3.11.
    """
    if sys.version_info[:2] != GUEST_VERSION:
        return False
    run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
         "-s", target, "-p", guest_dir, target],
        what="byte-compiling the image's Python", timeout=600,
    )
    return True


def _skip(path: Path) -> bool:
    return path.name == "bin" and path.parent.name == "site"


def build_deps(tmp: Path, recipe: DepsRecipe, base_dirs: frozenset[str], log: Callable[[str], None]) -> None:
    """Build deps.cpio.zst in `tmp` (the deps cache entry being created)."""
    stage = tmp / "site"
    log(f"deps: pip install {' '.join(recipe.binary + recipe.pure)}")
    for argv in pip_argv(recipe, stage):
        run(argv, what=f"pip install for the image (guest python {recipe.python_version})",
            timeout=PIP_TIMEOUT_S)
    if not compile_tree(stage, "/" + SITE_DIR):
        log(f"deps: host python {sys.version_info[0]}.{sys.version_info[1]} != guest "
            f"{recipe.python_version}: shipping without pycs (slower first import)")
    layer = Layer(base_dirs)
    count = layer.add_tree(stage, SITE_DIR, skip=_skip)
    (tmp / DEPS_ARCHIVE).write_bytes(pad4(zstd(layer.to_bytes())))
    new_dirs = [e.path for e in layer.entries if e.is_dir]
    (tmp / DIRS_FILE).write_text(json.dumps(new_dirs))
    log(f"deps: {count} files")
    shutil.rmtree(stage)


def read_dirs(entry: Path) -> frozenset[str]:
    """Directories a built deps entry adds (the code layer must not list them again)."""
    return frozenset(json.loads((entry / DIRS_FILE).read_text()))
