"""Debian's kernel for the image: find it on the host, copy only the modules the guest needs.

The guest runs the host's `linux-image-amd64` kernel (the image's rootfs has no kernel
package). Modules are resolved with `modprobe -S VER --show-depends`, which lists the .ko
files a module needs in load order, then `depmod -b ROOT VER` writes the guest's index.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfrastructureError
from harness.image.tools import require_tool, run

BOOT_DIR = Path("/boot")
MODULES_DIR = Path("/lib/modules")
# Index files depmod needs besides the .ko files themselves.
MODULE_INDEX_FILES = ("modules.order", "modules.builtin", "modules.builtin.modinfo")
_INSMOD = re.compile(r"^insmod (\S+)")


@dataclass(frozen=True)
class HostKernel:
    version: str
    vmlinuz: Path
    modules: Path


def find_kernel(version: str | None = None, boot: Path = BOOT_DIR, modules: Path = MODULES_DIR) -> HostKernel:
    """The newest kernel that has both /boot/vmlinuz-VER and /lib/modules/VER (or `version`).

    Raises:
        InfrastructureError: no such kernel; says what was found and what to install.
    """
    candidates = sorted(
        (p.name.removeprefix("vmlinuz-") for p in boot.glob("vmlinuz-*")),
        key=_version_key,
    )
    usable = [v for v in candidates if (modules / v / "modules.dep").is_file()]
    if version is not None:
        usable = [v for v in usable if v == version]
    if not usable:
        raise InfrastructureError(
            f"image build: no kernel with modules found (vmlinuz in {boot}: {candidates or 'none'}"
            f"{', wanted ' + version if version else ''}); apt-get install -y linux-image-amd64"
        )
    chosen = usable[-1]
    return HostKernel(chosen, boot / f"vmlinuz-{chosen}", modules / chosen)


def _version_key(version: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.-]", version))


def available_modules(kernel: HostKernel) -> list[str]:
    """Module names (as modprobe takes them) listed in the kernel's modules.dep."""
    names = []
    for line in (kernel.modules / "modules.dep").read_text().splitlines():
        path = line.split(":", 1)[0]
        base = Path(path).name
        names.append(base.split(".ko", 1)[0])
    return names


def expand_patterns(patterns: tuple[str, ...], available: list[str]) -> list[str]:
    """Names for each pattern; plain names are kept even if built in (modprobe decides).

    Raises:
        InfrastructureError: a glob pattern matched nothing (a typo would go unnoticed).
    """
    wanted: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(n for n in available if fnmatch.fnmatchcase(n, pattern))
            if not matches:
                raise InfrastructureError(f"image build: module pattern {pattern!r} matches no module")
            wanted.extend(matches)
        else:
            wanted.append(pattern)
    return list(dict.fromkeys(wanted))


def module_files(kernel: HostKernel, names: list[str]) -> list[Path]:
    """The .ko files (with dependencies) for `names`; built-in modules contribute none."""
    modprobe = require_tool("modprobe", "kmod")
    files: dict[Path, None] = {}
    for name in names:
        out = run(
            [modprobe, "-S", kernel.version, "--show-depends", name],
            what=f"resolving kernel module {name}",
            timeout=30,
        ).decode()
        for line in out.splitlines():
            match = _INSMOD.match(line)
            if match:
                files[Path(match.group(1))] = None
    return list(files)


def install_modules(kernel: HostKernel, patterns: tuple[str, ...], root: Path) -> int:
    """Copy the needed modules into ROOT/usr/lib/modules/VER and run depmod. Returns a count."""
    names = expand_patterns(patterns, available_modules(kernel))
    files = module_files(kernel, names)
    target = root / "usr" / "lib" / "modules" / kernel.version
    target.mkdir(parents=True, exist_ok=True)
    for source in files:
        relative = _relative_to_modules(source, kernel)
        dest = target / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    for index in MODULE_INDEX_FILES:
        if (kernel.modules / index).is_file():
            shutil.copy2(kernel.modules / index, target / index)
    depmod = require_tool("depmod", "kmod")
    run([depmod, "-b", root, kernel.version], what="depmod for the image", timeout=120)
    return len(files)


def _relative_to_modules(source: Path, kernel: HostKernel) -> Path:
    # modprobe prints /lib/modules/VER/...; the host may spell it /usr/lib/modules/VER/...
    parts = source.parts
    if kernel.version not in parts:
        raise InfrastructureError(f"image build: module path {source} is not under {kernel.modules}")
    return Path(*parts[parts.index(kernel.version) + 1 :])
