"""The base layer: a Debian minbase rootfs as a squashfs inside a small initramfs.

Steps (timings and pitfalls measured in `../shared/facts/vm-platform.md`):
mmdebstrap with the merged-usr hook (without it usrmerge+perl come in), docs and locales
excluded by dpkg; then the host-specific leftovers mmdebstrap copies in are overwritten
(hostname, resolv.conf), build-time SSH host keys and the 13 MB udev hwdb are removed, the
machine-id is emptied (each boot gets its own), and the needed kernel modules are copied
with depmod. The rootfs becomes `fba-initramfs/root.squashfs` (zstd); the initramfs around
it holds the rootfs's directory skeleton (so later layers unpack where they did before),
/dev/console, busybox, the loop/squashfs/overlay modules and `initramfs/init.sh` as /init,
which mounts the squashfs under a tmpfs overlay and switches to it. Unpacked into a ramfs
root, the same tree kept ~200 MB of every node's RAM; as a squashfs it keeps ~55 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from harness.image.kernel import HostKernel, install_modules, module_files
from harness.image.recipe import BaseRecipe
from harness.image.tools import require_tool, run

MMDEBSTRAP_TIMEOUT_S = 1200.0
BASE_ARCHIVE = "base.cpio.zst"
KERNEL_FILE = "vmlinuz"
MANIFEST = "manifest.json"
INITRAMFS_DIR = "fba-initramfs"
SQUASHFS_FILE = "root.squashfs"
INIT_SCRIPT = Path(__file__).parent / "initramfs" / "init.sh"
BUSYBOX = "usr/bin/busybox"
# zstd level 6: ~10 % smaller than level 3 for a few seconds more of a cached build step.
SQUASHFS_ARGS = ("-comp", "zstd", "-Xcompression-level", "6", "-all-root", "-noappend", "-quiet", "-no-progress")
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
    """Remove build-host leftovers and shared secrets."""
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
    (root / "init").unlink(missing_ok=True)  # /init belongs to the initramfs around the root


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


def squash(root: Path, out: Path) -> None:
    """The rootfs as a read-only zstd squashfs, every file owned by root (as the cpio was)."""
    mksquashfs = require_tool("mksquashfs", "squashfs-tools")
    out.parent.mkdir(parents=True, exist_ok=True)
    run([mksquashfs, root, out, *SQUASHFS_ARGS], what="mksquashfs (base rootfs)", timeout=600)


def initramfs_tree(
    root: Path, dirs: list[str], tree: Path, kernel: HostKernel, modules: tuple[str, ...]
) -> None:
    """The initramfs around the squashfs, in `tree`: /init, busybox, modules, a skeleton.

    The skeleton repeats every directory of the rootfs (`dirs`, from `directories`) with its mode, the top-level
    merged-/usr symlinks and /dev/console (the kernel opens it for /init's output), so the
    deps and code layers, unpacked over this tree by the kernel, land exactly where they
    did when the rootfs itself was the initramfs.
    """
    for rel in dirs:
        (tree / rel).mkdir(parents=True, exist_ok=True)
        (tree / rel).chmod(stat.S_IMODE((root / rel).lstat().st_mode))
    for entry in root.iterdir():
        if entry.is_symlink():
            (tree / entry.name).symlink_to(os.readlink(entry))
    console = tree / "dev" / "console"
    console.parent.mkdir(exist_ok=True)
    os.mknod(console, stat.S_IFCHR | 0o600, os.makedev(5, 1))
    own = tree / INITRAMFS_DIR
    (own / "modules").mkdir(parents=True)
    shutil.copy2(root / BUSYBOX, own / "busybox")
    for index, source in enumerate(module_files(kernel, list(modules))):
        shutil.copy2(source, own / "modules" / f"{index:02d}-{source.name}")  # load order
    init = tree / "init"
    shutil.copy2(INIT_SCRIPT, init)
    init.chmod(0o755)


def pack(root: Path, out: Path) -> None:
    """cpio (newc, owned 0:0) then zstd -3 (the squashfs inside is already compressed)."""
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
    tree = tmp / "initramfs"
    log(f"base: mmdebstrap {recipe.suite} with {len(recipe.packages)} packages")
    run(mmdebstrap_argv(recipe, root), what="mmdebstrap (base rootfs)", timeout=MMDEBSTRAP_TIMEOUT_S)
    tidy(root)
    count = install_modules(kernel, recipe.modules, root)
    log(f"base: {count} kernel module files for {kernel.version}")
    dirs = directories(root)
    initramfs_tree(root, dirs, tree, kernel, recipe.initramfs_modules)
    squash(root, tree / INITRAMFS_DIR / SQUASHFS_FILE)
    shutil.rmtree(root)
    log(f"base: squashfs root {(tree / INITRAMFS_DIR / SQUASHFS_FILE).stat().st_size / 1e6:.0f} MB")
    pack(tree, tmp / BASE_ARCHIVE)
    shutil.rmtree(tree)
    shutil.copy2(kernel.vmlinuz, tmp / KERNEL_FILE)
    manifest = {"kernel_version": kernel.version, "recipe": recipe.hash(), "dirs": dirs}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))


def read_manifest(entry: Path) -> tuple[str, frozenset[str]]:
    """(kernel version, directory set) of a built base entry."""
    data = json.loads((entry / MANIFEST).read_text())
    return str(data["kernel_version"]), frozenset(data["dirs"])
