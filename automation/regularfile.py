"""Reading a file `fba` was pointed at (config, markers, secrets, certificates, provisioning
sources) without ever blocking on it, and without reading more than the caller can use.

`open(2)` of a FIFO waits for a writer, forever: a FIFO as `--config`, or in place of a marker,
hung a boot step (and `fba status`, which promises to return by `--timeout`). A device is no
better: `/dev/zero` never ends, and opening some devices has side effects. None of these is a
file anyone meant, so each is refused with a message naming what it is:

- `stat` first, and anything that is not a regular file is refused without being opened;
- then open with O_NONBLOCK (a FIFO swapped in after the stat still cannot block the open) and
  `fstat` the descriptor, so what is read is what was checked;
- read at most `limit + 1` bytes, so a huge file is named as too large, not loaded.

Symlinks are followed unless the caller says otherwise: NixOS links secrets and configs into
place, and a symlink to a regular file is a regular file to every reader here.

The errors are `OSError`s whose `strerror` reads as one phrase ("a FIFO, not a regular file"),
so callers that already turn `OSError` into a one-line message keep doing so.
"""

from __future__ import annotations

import errno
import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISREG, "a regular file"),  # for callers that wanted something else (a directory)
)


class NotARegularFile(OSError):
    """The path names a directory, FIFO, device, socket (or, not followed, a symlink)."""

    def __init__(self, path: str | os.PathLike[str], mode: int) -> None:
        super().__init__(errno.EINVAL, f"{kind(mode)}, not a regular file", os.fspath(path))


class FileTooLarge(OSError):
    def __init__(self, path: str | os.PathLike[str], limit: int) -> None:
        super().__init__(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))
        self.limit = limit


def kind(mode: int) -> str:
    """What a file is, for messages: "a FIFO", "a directory", "a regular file", ..."""
    return next((name for test, name in _KINDS if test(mode)), "an unknown kind of file")


def check(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> os.stat_result:
    """The path's stat, if it names a regular file (for paths handed to code that opens them
    itself, such as OpenSSL). Raises FileNotFoundError, NotARegularFile or another OSError."""
    info = os.stat(path, follow_symlinks=follow_symlinks)
    if not stat.S_ISREG(info.st_mode):
        raise NotARegularFile(path, info.st_mode)
    return info


def read(path: str | os.PathLike[str], limit: int, *, follow_symlinks: bool = True) -> bytes:
    """The whole content of a regular file of at most `limit` bytes; never blocks.

    Raises:
        FileNotFoundError: nothing at `path` (callers often treat this as "absent").
        NotARegularFile: a directory, FIFO, device or socket (or a symlink, when not followed).
        FileTooLarge: more than `limit` bytes.
        OSError: any other failure (permission denied, a symlink loop, an I/O error).
    """
    check(path, follow_symlinks=follow_symlinks)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced between the stat and the open
            raise NotARegularFile(path, info.st_mode)
        chunks: list[bytes] = []
        size = 0
        for _ in range(limit + 2):  # each turn reads at least one byte or ends the loop
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileTooLarge(path, limit)
    finally:
        os.close(fd)
    return b"".join(chunks)


def describe(err: OSError) -> str:
    """One phrase for an error from `read`/`check`: "a FIFO, not a regular file",
    "Permission denied", "larger than 4096 bytes"."""
    return err.strerror or type(err).__name__
