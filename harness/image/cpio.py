"""newc cpio archives for initrd layers: write, read back, and concatenate safely.

The kernel unpacks every archive it finds in the initrd, in order, over the same root. That
makes layering cheap, with sharp edges this module exists to keep away (see
`../shared/facts/vm-platform.md`, "Layer pitfalls"):

- a directory entry for a directory the base already has resets its mode and owner, so a
  layer lists only directories that are new (`Layer.add_file` creates the missing parents);
- `lib`, `bin`, `sbin` are merged-/usr symlinks in the base: a layer that ships them as
  directories would shadow the whole of /usr/lib, so such paths are refused;
- a file whose parent directory does not exist yet is silently dropped by the kernel, so
  parents are always listed before their children;
- every archive must start 4-byte aligned: compressed parts are zero-padded (the kernel's
  unpacker skips zero bytes between archives).

Everything is owned by 0:0 with a fixed mtime, so the same input gives the same bytes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"
# Top-level names that are symlinks into usr/ in a merged-/usr root.
MERGED_USR_LINKS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32"})
FIXED_MTIME = 0


class CpioError(ValueError):
    """A layer would break the rules above, or an archive does not parse."""


@dataclass(frozen=True)
class Entry:
    """One archive member. `path` is relative ("etc/hosts"), `mode` includes the file type."""

    path: str
    mode: int
    data: bytes = b""

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


def _normalise(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or str(pure) == ".":
        raise CpioError(f"layer path {path!r}: must be relative, without '..'; drop the leading '/'")
    return str(pure)


class Layer:
    """An initrd layer being assembled on top of a base whose directories are known.

    Example:
        layer = Layer(existing_dirs={"etc", "usr", "usr/local", "usr/local/bin"})
        layer.add_file("usr/local/bin/fba", b"#!/usr/bin/python3\\n", executable=True)
        layer.add_symlink("etc/systemd/system/multi-user.target.wants/x.service", "/etc/x")
        data = layer.to_bytes()

    Raises:
        CpioError: a path is absolute, climbs with '..', goes through a merged-/usr link,
            or is added twice.
    """

    def __init__(self, existing_dirs: Iterable[str]) -> None:
        self._existing = frozenset(existing_dirs)
        self._entries: list[Entry] = []
        self._seen: set[str] = set()

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    def _check(self, path: str) -> str:
        norm = _normalise(path)
        if norm.split("/", 1)[0] in MERGED_USR_LINKS:
            raise CpioError(
                f"layer path {path!r}: {norm.split('/', 1)[0]}/ is a merged-/usr symlink in the "
                "base; use the usr/ path instead"
            )
        if norm in self._seen or norm in self._existing:
            raise CpioError(f"layer path {path!r}: listed twice (or already a base directory)")
        return norm

    def _parents(self, norm: str) -> None:
        parents = list(PurePosixPath(norm).parents)[:-1]  # drop "."
        for parent in reversed(parents):
            name = str(parent)
            if name not in self._existing and name not in self._seen:
                self.add_dir(name)

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        norm = self._check(path)
        self._parents(norm)
        self._seen.add(norm)
        self._entries.append(Entry(norm, stat.S_IFDIR | mode))

    def add_file(self, path: str, data: bytes, *, executable: bool = False, mode: int | None = None) -> None:
        norm = self._check(path)
        self._parents(norm)
        perm = mode if mode is not None else (0o755 if executable else 0o644)
        self._seen.add(norm)
        self._entries.append(Entry(norm, stat.S_IFREG | perm, data))

    def add_symlink(self, path: str, target: str) -> None:
        norm = self._check(path)
        self._parents(norm)
        self._seen.add(norm)
        self._entries.append(Entry(norm, stat.S_IFLNK | 0o777, target.encode()))

    def add_tree(self, source: Path, dest: str, *, skip: Callable[[Path], bool] = lambda _p: False) -> int:
        """Add a host directory's contents under `dest` (sorted, parents first). Returns files added."""
        count = 0
        for current, dirs, files in os.walk(source):
            here = Path(current)
            dirs[:] = sorted(d for d in dirs if not skip(here / d) and not (here / d).is_symlink())
            rel = here.relative_to(source)
            base = dest if rel == Path(".") else f"{dest}/{rel.as_posix()}"
            if base not in self._seen and base not in self._existing:
                self.add_dir(base)
            links = sorted(d for d in os.listdir(here) if (here / d).is_symlink() and (here / d).is_dir())
            for name in sorted(files) + links:
                path = here / name
                if skip(path):
                    continue
                if path.is_symlink():
                    self.add_symlink(f"{base}/{name}", os.readlink(path))
                else:
                    self.add_file(f"{base}/{name}", path.read_bytes(), executable=os.access(path, os.X_OK))
                count += 1
        return count

    def to_bytes(self) -> bytes:
        return write_newc(self._entries)


def _header(ino: int, entry: Entry, name: bytes) -> bytes:
    fields = (
        ino, entry.mode, 0, 0, 2 if entry.is_dir else 1, FIXED_MTIME, len(entry.data),
        0, 0, 0, 0, len(name) + 1, 0,
    )
    return NEWC_MAGIC + b"".join(b"%08X" % value for value in fields)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def write_newc(entries: Iterable[Entry]) -> bytes:
    """Serialise entries (in the given order) as one newc archive with its trailer."""
    out = bytearray()
    ino = 0
    for ino, entry in enumerate([*entries, Entry(TRAILER, 0)], start=1):
        name = entry.path.encode()
        head = _header(ino if entry.path != TRAILER else 0, entry, name) + name + b"\0"
        out += head + _pad(len(head)) + entry.data + _pad(len(entry.data))
    return bytes(out)


def iter_newc(data: bytes) -> Iterator[Entry]:
    """Parse concatenated uncompressed newc archives (zero padding between them is skipped).

    Raises:
        CpioError: a header does not start with the newc magic, or a member is truncated.
    """
    pos = 0
    size = len(data)
    for _ in range(size):  # bounded: every iteration consumes at least one header
        while pos < size and data[pos] == 0:
            pos += 1
        if pos >= size:
            return
        if data[pos : pos + 6] != NEWC_MAGIC:
            raise CpioError(f"cpio: bad magic {data[pos:pos + 6]!r} at offset {pos}; not a newc archive")
        if pos % 4:
            raise CpioError(f"cpio: archive member at offset {pos} is not 4-byte aligned")
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start : name_start + namesize - 1].decode()
        body = name_start + namesize + (-(110 + namesize) % 4)
        end = body + filesize
        if end > size:
            raise CpioError(f"cpio: member {name!r} truncated at offset {pos}")
        pos = end + (-filesize % 4)
        if name != TRAILER:
            yield Entry(name, mode, data[body:end])


def pad4(blob: bytes) -> bytes:
    """Zero-pad a compressed archive so the next one in the initrd starts aligned."""
    return blob + _pad(len(blob))
