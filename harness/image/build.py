"""`ensure_image`: the node's netboot image (kernel + initrd + cmdline), built or reused.

The initrd is three concatenated cpio+zstd archives, each a cache entry of its own:
base (Debian + kernel modules, ~20-30 s), deps (pip wheels, seconds), code (project Python
and units, about a second). The image entry is named by the hash of the three layer hashes,
so an unchanged tree costs only hashing the project's Python (milliseconds).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import InfrastructureError
from harness.image import cache
from harness.image.codelayer import CODE_ARCHIVE, build_code, code_hash
from harness.image.deps import DEPS_ARCHIVE, build_deps, read_dirs
from harness.image.kernel import find_kernel
from harness.image.recipe import BaseRecipe, deps_recipe, digest
from harness.image.rootfs import BASE_ARCHIVE, KERNEL_FILE, build_base, read_manifest
from harness.image.tools import sha256_file

INITRD_FILE = "node.img"
IMAGE_JSON = "image.json"
# console on the serial port; a panic ends QEMU at once (with -no-reboot) instead of hanging.
# ramfs initramfs: no size cap (tmpfs's is 50% of RAM: "Initramfs unpacking failed: write
# error" when the layers outgrow it); it only lives until /init's switch_root frees it.
BASE_CMDLINE: tuple[str, ...] = ("console=ttyS0", "panic=-1", "rootfstype=ramfs")


@dataclass(frozen=True)
class NetbootImage:
    """A bootable image: `qemu -kernel kernel -initrd initrd -append ' '.join(cmdline)`."""

    kernel: Path
    initrd: Path
    cmdline: tuple[str, ...]
    kernel_version: str
    recipe_hash: str


@dataclass(frozen=True)
class LayerHashes:
    base: str
    deps: str
    code: str

    @property
    def image(self) -> str:
        return digest(self.base, self.deps, self.code)


def default_code_root() -> Path:
    """The project root this harness runs from (holds automation/, standins/, pyproject.toml)."""
    return Path(__file__).resolve().parents[2]


def _quiet(_message: str) -> None:
    return None


def _concat(parts: list[Path], out: Path) -> None:
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as sink:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, sink, 1 << 20)
            if sink.tell() % 4:
                raise InfrastructureError(f"image: layer {part} leaves the initrd unaligned; rebuild it")
    os.replace(tmp, out)


def _load(entry: Path) -> NetbootImage:
    data = json.loads((entry / IMAGE_JSON).read_text())
    return NetbootImage(
        kernel=entry / KERNEL_FILE,
        initrd=entry / INITRD_FILE,
        cmdline=tuple(data["cmdline"]),
        kernel_version=str(data["kernel_version"]),
        recipe_hash=str(data["recipe_hash"]),
    )


def ensure_image(
    cache_dir: Path | None = None,
    *,
    code_root: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> NetbootImage:
    """Return the node image for the current recipe and code, building what is missing.

    Example:
        image = ensure_image(log=print)
        argv = ["qemu-system-x86_64", "-kernel", str(image.kernel), "-initrd",
                str(image.initrd), "-append", " ".join(image.cmdline), ...]

    Raises:
        InfrastructureError: a build step failed (mmdebstrap, pip, zstd, `fba units render`);
            the message quotes the command and its stderr.
        WaitTimeout: another process held a cache lock for the whole lock budget.
    """
    say = log or _quiet
    root = cache_dir or cache.default_cache_root()
    project = (code_root or default_code_root()).resolve()
    started = time.monotonic()
    kernel = find_kernel()
    base_recipe = BaseRecipe(kernel_version=kernel.version, kernel_sha256=sha256_file(kernel.vmlinuz))
    deps = deps_recipe(project / "pyproject.toml")
    hashes = LayerHashes(base_recipe.hash(), deps.hash(), code_hash(project))
    image_entry = cache.Entry(root, "images", hashes.image)
    if image_entry.exists():
        say(f"image {hashes.image}: cached ({time.monotonic() - started:.2f} s)")
        return _load(image_entry.path)

    base = cache.ensure(
        cache.Entry(root, "base", hashes.base), lambda tmp: build_base(tmp, base_recipe, kernel, say), say
    )
    kernel_version, base_dirs = read_manifest(base)
    deps_dir = cache.ensure(
        cache.Entry(root, "deps", hashes.deps), lambda tmp: build_deps(tmp, deps, base_dirs, say), say
    )
    existing = base_dirs | read_dirs(deps_dir)
    code = cache.ensure(
        cache.Entry(root, "code", hashes.code), lambda tmp: build_code(tmp, project, existing, say), say
    )

    def assemble(tmp: Path) -> None:
        _concat([base / BASE_ARCHIVE, deps_dir / DEPS_ARCHIVE, code / CODE_ARCHIVE], tmp / INITRD_FILE)
        shutil.copy2(base / KERNEL_FILE, tmp / KERNEL_FILE)
        info = {
            "recipe_hash": hashes.image,
            "layers": asdict(hashes),
            "kernel_version": kernel_version,
            "cmdline": list(BASE_CMDLINE),
            "code_root": str(project),
            "deps": list(deps.binary + deps.pure),
        }
        (tmp / IMAGE_JSON).write_text(json.dumps(info, indent=2) + "\n")

    cache.ensure(image_entry, assemble, say)
    say(f"image {hashes.image}: ready in {time.monotonic() - started:.1f} s")
    return _load(image_entry.path)
