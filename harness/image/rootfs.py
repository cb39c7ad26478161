"""The base layer: a Debian minbase rootfs with Debian's kernel modules, packed as cpio+zstd.

Steps (timings and pitfalls measured in `../shared/facts/vm-platform.md`):
mmdebstrap with the merged-usr hook (without it usrmerge+perl come in), docs and locales
excluded by dpkg; then the host-specific leftovers mmdebstrap copies in are overwritten
(hostname, resolv.conf), build-time SSH host keys and the 13 MB udev hwdb are removed, the
machine-id is emptied (each boot gets its own), the needed kernel modules are copied with
depmod, and /init points at systemd (the kernel runs /init from an initramfs).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from harness.image.kernel import HostKernel, install_modules
from harness.image.recipe import BaseRecipe
from harness.image.tools import require_tool, run

MMDEBSTRAP_TIMEOUT_S = 1200.0
BASE_ARCHIVE = "base.cpio.zst"
KERNEL_FILE = "vmlinuz"
MANIFEST = "manifest.json"
MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/merged-usr")
# Enabled in the chroot: networkd configures both NICs (files come with the code layer).
CUSTOMIZE_HOOKS = ('chroot "$1" systemctl enable systemd-networkd.service',)
REMOVE = (
    "usr/lib/udev/hwdb.bin", "etc/udev/hwdb.bin",
    "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin",
)
# hwdb.d holds only the sources of the removed hwdb.bin (10 MB of RAM on every node).
REMOVE_GLOBS = (
    "etc/ssh/ssh_host_*", "var/lib/apt/lists/*_Packages", "var/log/*.log", "usr/lib/udev/hwdb.d/*",
)


def mmdebstrap_argv(recipe: BaseRecipe, root: Path) -> list[str]:
    tool = require_tool("mmdebstrap", "mmdebstrap")
    argv = [
        tool, "--mode=root", "--variant=minbase", "--quiet",
        f"--hook-dir={MERGED_USR_HOOK}",
        f"--include={','.join(recipe.packages)}",
        "--aptopt=Acquire::Retries \"3\"",
    ]
    argv += [f"--dpkgopt=path-exclude={pattern}" for pattern in recipe.dpkg_excludes]
    argv += [f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS]
    argv += [recipe.suite, str(root), recipe.mirror]
    return argv


def tidy(root: Path) -> None:
    """Remove build-host leftovers and shared secrets; make /init start systemd."""
    for name in REMOVE:
        (root / name).unlink(missing_ok=True)
    for pattern in REMOVE_GLOBS:
        for path in root.glob(pattern):
            path.unlink()
    (root / "etc" / "hostname").write_text("fba-node\n")
    (root / "etc" / "resolv.conf").unlink(missing_ok=True)
    (root / "etc" / "resolv.conf").write_text("# no DNS: cluster names are in /etc/hosts\n")
    (root / "etc" / "machine-id").write_text("")  # empty: systemd makes one per boot
    (root / "var" / "lib" / "dbus" / "machine-id").unlink(missing_ok=True)
    init = root / "init"
    init.unlink(missing_ok=True)
    init.symlink_to("/lib/systemd/systemd")


def directories(root: Path) -> list[str]:
    """Every real directory in the rootfs, relative, parents first (symlinks not followed)."""
    found: list[str] = []
    for current, dirs, _files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(current, root)
        if rel != ".":
            found.append(rel)
    return found


def file_list(root: Path) -> bytes:
    """NUL-separated member list for cpio, each directory before its contents."""
    names: list[str] = []
    for current, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(current, root)
        if rel != ".":
            names.append(rel)
        # os.walk does not descend into symlinked dirs, but lists them in `dirs`
        entries = sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(current, d)))
        names.extend(os.path.normpath(os.path.join(rel, name)) for name in entries)
    return b"".join(name.encode() + b"\0" for name in names)


def pack(root: Path, out: Path) -> None:
    """cpio (newc, owned 0:0) then zstd -3: 162 MB -> ~52 MB in about a second each."""
    cpio = require_tool("cpio", "cpio")
    zstd = require_tool("zstd", "zstd")
    raw = out.with_suffix("")
    run(
        [cpio, "-o", "-H", "newc", "-R", "0:0", "--null", "--quiet", "-F", raw],
        what="packing the base rootfs with cpio", timeout=600, cwd=root, stdin=file_list(root),
    )
    run([zstd, "-3", "-T0", "-q", "--rm", "-f", raw, "-o", out], what="compressing the base", timeout=600)
    size = out.stat().st_size
    if size % 4:  # the next layer must start 4-byte aligned
        with out.open("ab") as handle:
            handle.write(b"\0" * (-size % 4))


def build_base(
    tmp: Path, recipe: BaseRecipe, kernel: HostKernel, log: Callable[[str], None]
) -> None:
    """Build the base entry in `tmp`: base.cpio.zst, vmlinuz, manifest.json."""
    root = tmp / "rootfs"
    log(f"base: mmdebstrap {recipe.suite} with {len(recipe.packages)} packages")
    run(mmdebstrap_argv(recipe, root), what="mmdebstrap (base rootfs)", timeout=MMDEBSTRAP_TIMEOUT_S)
    tidy(root)
    count = install_modules(kernel, recipe.modules, root)
    log(f"base: {count} kernel module files for {kernel.version}")
    dirs = directories(root)
    pack(root, tmp / BASE_ARCHIVE)
    shutil.rmtree(root)
    shutil.copy2(kernel.vmlinuz, tmp / KERNEL_FILE)
    manifest = {"kernel_version": kernel.version, "recipe": recipe.hash(), "dirs": dirs}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))


def read_manifest(entry: Path) -> tuple[str, frozenset[str]]:
    """(kernel version, directory set) of a built base entry."""
    data = json.loads((entry / MANIFEST).read_text())
    return str(data["kernel_version"]), frozenset(data["dirs"])
