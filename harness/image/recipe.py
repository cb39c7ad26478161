"""What goes into each image layer, as data, and the content hashes that name cache entries.

Three layers, each with its own hash so each is rebuilt only when its inputs change:

- base: Debian packages, kernel modules, dpkg excludes, the kernel itself, and the source of
  the modules that build the base (`BASE_BUILDER_MODULES`);
- deps: the node-side Python requirements pinned to the versions in the harness's own
  environment, so guest and host run the same libraries;
- code: the project's Python packages and the guest files (hashed in `codelayer`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import InfrastructureError

HASH_LENGTH = 16
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
GUEST_PYTHON = "3.11"
# Modules of this package whose source changes what the base layer contains.
BASE_BUILDER_MODULES = ("recipe.py", "rootfs.py", "kernel.py", "initramfs/init.sh")
DEPS_BUILDER_MODULES = ("recipe.py", "deps.py", "cpio.py", "tools.py")

PACKAGES: tuple[str, ...] = (
    "systemd-sysv", "udev", "kmod", "dbus", "procps",
    "iproute2",  # ip, and tc for the design's netem/manual procedures
    "nftables", "iputils-ping", "curl", "ca-certificates",
    "python3", "openssh-server", "e2fsprogs", "util-linux",
    "busybox-static",  # the initramfs /init (mount the squashfs root, switch_root)
)

# Module names or fnmatch patterns over the kernel's modules.dep; dependencies come along.
MODULES: tuple[str, ...] = (
    "virtio_pci", "virtio_net", "virtio_blk", "virtio_rng", "virtio_console",
    "qemu_fw_cfg", "9pnet_virtio", "9p", "ext4", "crc32c_intel",
    "sch_netem", "sch_prio", "sch_htb", "sch_tbf", "cls_u32", "cls_matchall",
    "nf_tables", "nft_*", "nf_reject_ipv4", "nf_reject_ipv6",
    "bridge", "veth", "tun", "button", "evdev",
)

# Loaded by the initramfs /init before the root exists: the root is a squashfs on a loop
# device under an overlay (all three are modules in Debian's kernel).
INITRAMFS_MODULES: tuple[str, ...] = ("loop", "squashfs", "overlay")

DPKG_EXCLUDES: tuple[str, ...] = (
    "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/doc/*", "/usr/share/info/*",
    "/usr/share/lintian/*", "/usr/share/linda/*", "/usr/lib/x86_64-linux-gnu/gconv/*",
)

# Runtime dependencies of the node: pyproject's `dependencies` plus these extras.
NODE_EXTRAS = ("standins",)
# Pure-Python packages published as sdists only: installed without --platform.
PURE_SDIST = frozenset({"pysyncobj"})
PLATFORMS = ("manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64")


def digest(*parts: str | bytes) -> str:
    """Short stable hash of length-prefixed parts (so ("ab","c") != ("a","bc"))."""
    h = hashlib.sha256()
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        h.update(len(raw).to_bytes(8, "big"))
        h.update(raw)
    return h.hexdigest()[:HASH_LENGTH]


def source_digest(names: tuple[str, ...]) -> str:
    here = Path(__file__).parent
    return digest(*[f"{name}\0".encode() + (here / name).read_bytes() for name in names])


@dataclass(frozen=True)
class BaseRecipe:
    """Inputs of the base layer. `kernel_version`/`kernel_sha256` pin the host's kernel."""

    kernel_version: str
    kernel_sha256: str
    packages: tuple[str, ...] = PACKAGES
    modules: tuple[str, ...] = MODULES
    initramfs_modules: tuple[str, ...] = INITRAMFS_MODULES
    dpkg_excludes: tuple[str, ...] = DPKG_EXCLUDES
    suite: str = SUITE
    mirror: str = MIRROR
    builder: str = field(default_factory=lambda: source_digest(BASE_BUILDER_MODULES))

    def hash(self) -> str:
        return digest(json.dumps(asdict(self), sort_keys=True))


@dataclass(frozen=True)
class DepsRecipe:
    """Pinned requirements (`name==version`) for the guest's python3."""

    binary: tuple[str, ...]
    pure: tuple[str, ...]
    python_version: str = GUEST_PYTHON
    platforms: tuple[str, ...] = PLATFORMS
    builder: str = field(default_factory=lambda: source_digest(DEPS_BUILDER_MODULES))

    def hash(self) -> str:
        return digest(json.dumps(asdict(self), sort_keys=True))


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _requirement_name(spec: str) -> str:
    match = _NAME.match(spec)
    if match is None:
        raise InfrastructureError(f"image deps: cannot read a package name from {spec!r} in pyproject.toml")
    return match.group(1)


def node_requirements(pyproject: Path) -> list[str]:
    """The node's requirement strings from pyproject (dependencies + NODE_EXTRAS)."""
    try:
        project = tomllib.loads(pyproject.read_text())["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as err:
        raise InfrastructureError(f"image deps: cannot read [project] from {pyproject}: {err}") from err
    specs = list(project.get("dependencies", []))
    extras = project.get("optional-dependencies", {})
    for extra in NODE_EXTRAS:
        specs.extend(extras.get(extra, []))
    return specs


def pin(spec: str) -> str:
    """`name==version` of the copy installed here, or the spec unchanged if none is."""
    name = _requirement_name(spec)
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return spec


def deps_recipe(pyproject: Path) -> DepsRecipe:
    pinned = sorted(pin(spec) for spec in node_requirements(pyproject))
    pure = tuple(p for p in pinned if _requirement_name(p).lower() in PURE_SDIST)
    binary = tuple(p for p in pinned if p not in pure)
    return DepsRecipe(binary=binary, pure=pure)
