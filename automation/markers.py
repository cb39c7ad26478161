"""Marker files, written atomically and read suspiciously.

Write: temp file in the same directory (O_EXCL, 0600), content, fsync, rename over the
marker, fsync the directory. A crash at any point leaves either no marker or a whole one,
never a torn one (cloud-init's run-once markers are not atomic, and lie after a crash).
Read: absent, valid (timestamp + matching checksum), unverified (timestamp only, as the
design's manual procedure writes), or corrupt (empty, unparsable, checksum mismatch). A
corrupt marker is reported and not trusted. A readable marker also says for whom it was
written (`Ownership`): this node, someone else (a cloned disk), or nobody in particular (the
manual form, or one written before identities); `automation.markertrust` decides what that
means for a join.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from automation.errors import MarkerError
from automation.spec.markers import (
    MARKER_MODE,
    STATE_DIR_MODE,
    MarkerFormatError,
    MarkerIdentity,
    parse_marker,
    render_marker,
)

if TYPE_CHECKING:
    from datetime import datetime

MAX_MARKER_BYTES = 4096


class MarkerStatus(StrEnum):
    ABSENT = "absent"
    VALID = "valid"
    UNVERIFIED = "unverified"
    CORRUPT = "corrupt"


class Ownership(StrEnum):
    OURS = "ours"  # identity lines name this node, cluster and Raft address
    UNKNOWN = "unknown"  # no identity lines: written by hand, or by fba before identities
    FOREIGN = "foreign"  # identity lines name another node, cluster or Raft address


# A NamedTuple, not a frozen dataclass: `fba status` reads markers without importing `dataclasses`
# (docs/CONTRIBUTING.md, "The start-up path").
class MarkerState(NamedTuple):
    name: str
    status: MarkerStatus
    timestamp: datetime | None = None
    detail: str = ""
    identity: MarkerIdentity | None = None
    timestamp_line: str = ""

    @property
    def present(self) -> bool:
        """A readable marker: valid, or a timestamp-only one written by hand. Whether it is
        this node's is a separate question (`ownership`)."""
        return self.status in (MarkerStatus.VALID, MarkerStatus.UNVERIFIED)

    def ownership(self, expected: MarkerIdentity) -> Ownership:
        if self.identity is None:
            return Ownership.UNKNOWN
        return Ownership.OURS if self.identity == expected else Ownership.FOREIGN

    def written_for(self, expected: MarkerIdentity) -> str:
        """One phrase for logs: whom the marker names, compared with this node."""
        if self.identity is None:
            return "says nothing about the node it was written for"
        differences = expected.differences(self.identity)
        if not differences:
            return f"written for this node ({expected.describe()})"
        return f"written for {self.identity.describe()}: {'; '.join(differences)}"


def _now() -> datetime:
    from datetime import UTC, datetime  # here, not at the top: `fba status` never writes a marker

    return datetime.now(UTC)


def render(timestamp: datetime, identity: MarkerIdentity | None = None) -> str:
    return render_marker(timestamp.isoformat(timespec="seconds"), identity)


def parse(name: str, raw: bytes) -> MarkerState:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return MarkerState(name, MarkerStatus.CORRUPT, detail="not UTF-8 text")
    try:
        content = parse_marker(text)
    except MarkerFormatError as err:
        return MarkerState(name, MarkerStatus.CORRUPT, detail=str(err))
    if not content.checksummed:
        return MarkerState(
            name,
            MarkerStatus.UNVERIFIED,
            content.timestamp,
            "timestamp only (written by hand?)",
            timestamp_line=content.timestamp_line,
        )
    return MarkerState(
        name, MarkerStatus.VALID, content.timestamp, identity=content.identity, timestamp_line=content.timestamp_line
    )


class MarkerStore:
    """The marker directory. `before_rename` is the failpoint hook between fsync and rename."""

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], datetime] | None = None,
        before_rename: Callable[[], None] | None = None,
    ) -> None:
        self.directory = directory
        self._clock = clock or _now
        self._before_rename = before_rename

    def ensure_directory(self) -> str | None:
        """Create the directory 0700. Returns a warning when an existing one had a wider mode."""
        try:
            self.directory.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
            mode = stat.S_IMODE(self.directory.stat().st_mode)
            self._remove_stale_temp_files()
            if mode != STATE_DIR_MODE:
                os.chmod(self.directory, STATE_DIR_MODE)
                return f"state directory {self.directory} had mode {mode:04o}; set to {STATE_DIR_MODE:04o}"
        except OSError as err:
            raise MarkerError(f"cannot create state directory {self.directory}: {err.strerror}") from None
        return None

    def _remove_stale_temp_files(self) -> None:
        """Temp files of writers that crashed before their rename (never read as markers)."""
        for tmp in self.directory.glob(".*.tmp-*"):
            pid_text = tmp.name.rpartition(".tmp-")[2]
            if pid_text.isdigit() and _alive(int(pid_text)) and int(pid_text) != os.getpid():
                continue  # another live writer's file
            tmp.unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        return self.directory / name

    def read(self, name: str) -> MarkerState:
        path = self.path(name)
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_MARKER_BYTES + 1)
        except FileNotFoundError:
            return MarkerState(name, MarkerStatus.ABSENT)
        except OSError as err:
            return MarkerState(name, MarkerStatus.CORRUPT, detail=f"unreadable: {err.strerror}")
        if len(raw) > MAX_MARKER_BYTES:
            return MarkerState(name, MarkerStatus.CORRUPT, detail="too large")
        return parse(name, raw)

    def write(
        self, name: str, identity: MarkerIdentity | None = None, *, timestamp_line: str | None = None
    ) -> MarkerState:
        """Write a marker for `identity` (now, or keeping `timestamp_line` when an old marker is
        re-written with the identity it was verified to have)."""
        line = timestamp_line or self._clock().isoformat(timespec="seconds")
        content = render_marker(line, identity)
        write_atomic(self.path(name), content.encode("utf-8"), before_rename=self._before_rename)
        return parse(name, content.encode("utf-8"))

    def remove(self, name: str) -> bool:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return False
        except OSError as err:
            raise MarkerError(f"cannot remove marker {self.path(name)}: {err.strerror}") from None
        _fsync_directory(self.directory)
        return True


def write_atomic(
    path: Path, data: bytes, *, mode: int = MARKER_MODE, before_rename: Callable[[], None] | None = None
) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one, whole."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)  # left by a crashed run whose pid we now reuse
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)  # the umask may have narrowed or (with O_CREAT) not applied
            os.fsync(fd)
        finally:
            os.close(fd)
        if before_rename:
            before_rename()
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise MarkerError(f"cannot write {path}: {err.strerror}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
