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

import errno
import os
import stat
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from automation import regularfile
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
# The largest pid Linux hands out (PID_MAX_LIMIT on 64-bit): a "pid" above it in a temp file's
# name is not a writer's.
_PID_MAX = 4_194_304


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
        self._warned = False  # the wide-mode WARN was returned already (`judge_directory`)

    def ensure_directory(self, *will_write: str) -> str | None:
        """Create the directory 0700, or use an existing one. Returns a warning when an existing
        one has a wider mode than 0700 (it is used as it is).

        fba never changes the mode of a directory it did not create: `--state-dir` naming an
        existing directory by mistake (`/var/lib`, or `""`, the cwd: `/` under systemd) had
        it chmod 0700. One that others may write to is refused: they could plant or replace
        markers, and a marker decides whether a node joins. Wider read modes only show marker
        names and times (markers are 0600), so they are used with a warning.

        `will_write`: the markers the step writes once it succeeded; each must be replaceable
        by a file now (a directory in its place is not), so that a step does not change the
        cluster first and then find it cannot record that."""
        # Judged before anything is created in it (a directory others may write to is refused
        # untouched), then proven writable, before the step sends anything.
        warning = self.judge_directory()
        probe_writable(self.directory, "state directory")
        for name in will_write:
            try:
                info = os.lstat(self.path(name))
            except FileNotFoundError:
                continue
            except OSError as err:
                raise MarkerError(f"cannot write marker {self.path(name)}: {regularfile.describe(err)}") from None
            if stat.S_ISDIR(info.st_mode):
                raise MarkerError(
                    f"cannot write marker {self.path(name)}: it is a directory (a marker cannot replace it); remove it"
                )
        self._remove_stale_temp_files()
        return warning

    def judge_directory(self) -> str | None:
        """The directory's mode judged (refused when others may write to it), creating it 0700
        when absent. The warning for a wider mode is returned once per store: the step lock
        judges first (before its lock file is created in the directory) and the step again
        when it checks its markers, and one directory deserves one WARN.

        Raises:
            MarkerError: the directory cannot be created or used, or others may write to it.
        """
        if self._ensure_directory_exists():
            return None
        warning = self._judge_mode()
        if warning is None or self._warned:
            return None
        self._warned = True
        return warning

    def _ensure_directory_exists(self) -> bool:
        """Make sure the directory exists; True when this call created it (mode 0700)."""
        try:
            self.directory.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=False)
        except FileExistsError:
            if not self.directory.is_dir():
                raise MarkerError(f"cannot use state directory {self.directory}: {self._what_is_there()}") from None
            return False
        except OSError as err:
            raise MarkerError(f"cannot create state directory {self.directory}: {err.strerror}") from None
        try:
            os.chmod(self.directory, STATE_DIR_MODE)  # ours: the umask may have narrowed it
        except OSError as err:
            raise MarkerError(f"cannot set the mode of state directory {self.directory}: {err.strerror}") from None
        return True

    def _judge_mode(self) -> str | None:
        """An existing directory's mode, judged but never changed (see `ensure_directory`)."""
        try:
            mode = stat.S_IMODE(self.directory.stat().st_mode)
        except OSError as err:
            raise MarkerError(f"cannot use state directory {self.directory}: {err.strerror}") from None
        refusal, warning = judge_existing_directory("state directory", self.directory, mode, STATE_DIR_MODE)
        if refusal:
            raise MarkerError(refusal)
        return warning

    def _what_is_there(self) -> str:
        try:
            return f"it is {regularfile.kind(os.lstat(self.directory).st_mode)}, not a directory"
        except OSError as err:
            return regularfile.describe(err)

    def _remove_stale_temp_files(self) -> None:
        """Temp files of writers that crashed before their rename (never read as markers).

        Only regular files named like ours (`.NAME.tmp-PID`, PID a plausible process id in
        ASCII digits) are candidates; anything else is left alone, as is a live writer's
        file. A name with a 20-digit "pid" ended the join with exit 70 (an int too large for
        kill()), and a directory so named with "cannot create state directory: Is a directory".
        A file that cannot be removed is left (it is never read as a marker): the sweep is
        housekeeping, and must not fail the step."""
        try:
            candidates = list(self.directory.glob(".*.tmp-*"))
        except OSError:
            return
        for tmp in candidates:
            pid_text = tmp.name.rpartition(".tmp-")[2]
            if not (pid_text.isascii() and pid_text.isdigit() and len(pid_text) <= len(str(_PID_MAX))):
                continue
            pid = int(pid_text)
            if pid > _PID_MAX or (pid != os.getpid() and _alive(pid)):
                continue  # not one of ours, or another live writer's file
            try:
                if not stat.S_ISREG(os.lstat(tmp).st_mode):
                    continue
                tmp.unlink()
            except OSError:
                continue

    def path(self, name: str) -> Path:
        return self.directory / name

    def directory_problem(self) -> str | None:
        """Why no marker can be read from the directory at all (None: markers can be read).

        `fba status` showed a missing, unreadable or non-directory state dir as every step
        "pending", without a word: the operator could not tell "not yet" from "cannot see"."""
        where = f"state directory {self.directory}"
        try:
            info = os.stat(self.directory)
        except FileNotFoundError:
            return f"{where} does not exist: no marker can be read (none written yet, or a wrong --state-dir)"
        except OSError as err:
            return f"{where} unreadable: {regularfile.describe(err)}: no marker can be read"
        if not stat.S_ISDIR(info.st_mode):
            return f"{where} is {regularfile.kind(info.st_mode)}, not a directory: no marker can be read"
        try:
            with os.scandir(self.directory):
                pass
        except OSError as err:
            return f"{where} unreadable: {regularfile.describe(err)}: no marker can be read"
        return None

    def exists(self, name: str) -> bool:
        """Whether anything stands at `name` (a dangling link too); nothing is read."""
        return os.path.lexists(self.path(name))

    def read(self, name: str) -> MarkerState:
        # Never blocks and never reads more than a marker can hold: a FIFO in the marker's
        # place hung `fba status` past its --timeout, and a link to /dev/zero never ends.
        try:
            raw = regularfile.read(self.path(name), MAX_MARKER_BYTES)
        except FileNotFoundError:
            return self._absent_or_dangling(name)
        except regularfile.FileTooLarge:
            return MarkerState(name, MarkerStatus.CORRUPT, detail=f"too large (over {MAX_MARKER_BYTES} bytes)")
        except OSError as err:
            return MarkerState(name, MarkerStatus.CORRUPT, detail=f"unreadable: {regularfile.describe(err)}")
        return parse(name, raw)

    def _absent_or_dangling(self, name: str) -> MarkerState:
        """No file to read: absent, unless a symlink stands in its place. A dangling link is
        not a file (README: such a marker is named, not shown as plain "pending")."""
        try:
            info = os.lstat(self.path(name))
        except OSError:
            return MarkerState(name, MarkerStatus.ABSENT)
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.readlink(self.path(name))
            except OSError:
                target = "?"
            return MarkerState(
                name, MarkerStatus.CORRUPT, detail=f"not a file: a symlink to {target!a}, which does not exist"
            )
        return MarkerState(name, MarkerStatus.ABSENT)  # gone between the read and this look

    def write(
        self, name: str, identity: MarkerIdentity | None = None, *, timestamp_line: str | None = None
    ) -> MarkerState:
        """Write a marker for `identity` (now, or keeping `timestamp_line` when an old marker is
        re-written with the identity it was verified to have)."""
        line = timestamp_line or self._clock().isoformat(timespec="seconds")
        content = render_marker(line, identity)
        write_atomic(self.path(name), content.encode("utf-8"), before_rename=self._before_rename)
        return parse(name, content.encode("utf-8"))

    def rename(self, name: str, to: str) -> bool:
        """Move marker `name` to `to` (replacing it); False when there was no `name`."""
        source, target = self.path(name), self.path(to)
        return self._change(
            lambda: os.replace(source, target),
            f"cannot move marker {source} to {target}",
            f"moved marker {source} to {to}",
        )

    def remove(self, name: str) -> bool:
        """Remove marker `name`; False when there was none."""
        path = self.path(name)
        return self._change(path.unlink, f"cannot remove marker {path}", f"removed marker {path}")

    def _change(self, act: Callable[[], None], cannot: str, done: str) -> bool:
        """`act` on a marker, then sync the directory, so the change holds before anything that
        relies on it is sent; False when the marker was not there."""
        try:
            act()
        except FileNotFoundError:
            return False
        except OSError as err:
            raise MarkerError(f"{cannot}: {err.strerror}") from None
        try:
            _fsync_directory(self.directory)
        except OSError as err:
            raise MarkerError(f"{done}; syncing the directory failed: {err.strerror}") from None
        return True

def probe_writable(directory: Path, what: str) -> None:
    """Prove a file can be created in `directory` (and remove it again), before a step asks
    for a change it must then record there.

    A state dir made read-only (chattr +i, a read-only mount; root ignores modes, not these)
    was found only by the marker write: the join had already added this node, the exit said
    it failed. The probe is named like a temp file of ours (`.NAME.tmp-PID`), so one left by
    a crash is swept like theirs.

    Raises:
        MarkerError: the directory is not writable (cause `state not written`); nothing was sent.
    """
    probe = directory / f".write-probe.tmp-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return  # ours from a crashed run of this pid: creating it once proved the same
    except OSError as err:
        # A read-only mount is most often the units' own sandbox (ProtectSystem=strict): say
        # how to lift it for this directory (break 12, K13).
        from automation.spec.units import WRITABLE_HINT  # here: `fba status` never writes

        hint = f" (add it to the units' ReadWritePaths: {WRITABLE_HINT})" if err.errno == errno.EROFS else ""
        raise MarkerError(
            f"cannot write in {what} {directory}: {regularfile.describe(err)}{hint}; nothing was asked of the "
            "cluster, as the result could not be recorded"
        ) from None
    os.close(fd)
    try:
        probe.unlink()
    except OSError:
        pass  # swept as a stale temp file by a later run


def judge_existing_directory(what: str, directory: Path, mode: int, wanted: int) -> tuple[str | None, str | None]:
    """(refusal, warning) for a directory fba is to write secrets or markers into but did not
    create. fba never changes such a directory's mode: a typo'd `--state-dir /var/lib` or
    `--dest /etc` (or `""`, the cwd: `/` under systemd) was silently chmod 0700. Others
    may write to it: refused (they could plant or replace what fba reads back). A mode wider
    than `wanted` otherwise: a warning (the files in it are 0600; only names show)."""
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "anyone" if mode & stat.S_IWOTH else "its group"
        return (
            f"refusing {what} {directory}: mode {mode:04o}, {who} may write to it; fba does not change the "
            f"mode of a directory it did not create: use a directory of its own (it creates one "
            f"{wanted:04o}) or chmod it yourself",
            None,
        )
    if mode & ~wanted:
        return None, (
            f"{what} {directory} has mode {mode:04o}, not {wanted:04o}; used as it is "
            "(fba does not change the mode of a directory it did not create)"
        )
    return None, None


class BadLink(OSError):
    """A user-given path that is a symlink leading nowhere a file can be written (its own
    class: a dangling link's ENOENT must not read as "no file there yet")."""


def link_target(path: Path) -> Path:
    """Where a write to the user-given file `path` goes: `path` itself, or, when it is a
    symlink, the regular file it resolves to (which may not exist yet only as `path` itself).

    Users link their files elsewhere on purpose (README: "a regular file or a symlink to one";
    impermanence keeps the IAM credentials as a link into /persist). The atomic rename over
    `path` replaced the link with a plain file: the persistent target kept the old content,
    and the secret written was lost at the next boot. Markers are not user-given: they are
    written over, and a symlinked marker is read as corrupt (`MarkerStore.read`).

    Raises:
        BadLink: `path` is a dangling link, a loop, or a link to something other than a
            regular file (one line naming `path`; a rename over a link to /dev/null would
            replace the device).
        OSError: `path` itself cannot be looked at.
    """
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            return path
        target = os.readlink(path)
    except FileNotFoundError:
        return path
    except OSError as err:
        raise OSError(err.errno, regularfile.describe(err), str(path)) from None
    try:
        resolved = Path(os.path.realpath(path, strict=True))
        info = os.stat(resolved)
    except FileNotFoundError as err:
        raise BadLink(err.errno, f"a symlink to {target!a}, which does not exist", str(path)) from None
    except OSError as err:
        raise BadLink(err.errno, f"a symlink to {target!a}: {regularfile.describe(err)}", str(path)) from None
    if not stat.S_ISREG(info.st_mode):
        what = f"a symlink to {target!a}, which is {regularfile.kind(info.st_mode)}, not a regular file"
        raise BadLink(errno.EINVAL, what, str(path))
    return resolved


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = MARKER_MODE,
    before_rename: Callable[[], None] | None = None,
    follow_link: bool = False,
) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one, whole.

    `follow_link`: `path` is user-given (not a marker of ours): a symlink there stays, and the
    file it resolves to is replaced, atomically beside itself (`link_target`)."""
    given = path
    try:
        path = link_target(path) if follow_link else path
    except OSError as err:
        raise MarkerError(f"cannot write {given}: {err.strerror}") from None
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
            if not tmp.is_dir():
                tmp.unlink()
        except OSError:
            pass
        raise MarkerError(f"cannot write {path}: {_failure(err, path)}") from None


def write_all_atomic(files: Sequence[tuple[Path, bytes, int]]) -> None:
    """Replace several files (path, content, mode) so that a failure changes none of them, as
    far as the file system allows: every content is written and fsynced to a temp file beside
    its target first, and only when all are staged are they renamed into place. A failure while
    staging (disk full, a directory not writable) removes the temp files and leaves every
    target as it was; a rename failing after that is left to the caller's message.

    `fba units render` and `fba provision` wrote file after file and stopped at the first that
    failed, with the earlier ones already replaced and the exit code saying nothing changed.

    The paths are user-given: a symlink among them stays, and the file it resolves to is the one
    staged beside and replaced (`link_target`); one leading nowhere fails before any rename.

    Raises:
        OSError: with `filename` set to the target that could not be written.
    """
    staged: list[tuple[Path, Path, Path]] = []
    try:
        for given, data, mode in files:
            # User-given files (secrets, unit files): a symlink stays, its target is replaced.
            path = link_target(given)
            staged.append((_stage(path, data, mode), path, given))
        for tmp, path, given in staged:
            try:
                os.replace(tmp, path)
            except OSError as err:
                raise OSError(err.errno, err.strerror, str(given)) from err
        for directory in dict.fromkeys(path.parent for _, path, _ in staged):
            _fsync_directory(directory)
    finally:
        for tmp, _, _ in staged:
            try:
                tmp.unlink()  # renamed ones are gone already; what is left was never installed
            except OSError:
                pass


def _stage(path: Path, data: bytes, mode: int) -> Path:
    """A fsynced temp file beside `path` holding `data` with `mode`; raises OSError naming `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)  # left by a crashed run whose pid we now reuse
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            for _ in range(len(data) + 1):  # each turn writes at least one byte or ends
                if not view:
                    break
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)  # the umask may have narrowed or (with O_CREAT) not applied
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        try:
            if not tmp.is_dir():
                tmp.unlink()
        except OSError:
            pass
        raise OSError(err.errno, _failure(err, path), str(path)) from err
    return tmp


def _failure(err: OSError, path: Path) -> str:
    """`err`'s reason, naming the file it is about when that is not `path` itself (its temp
    file: a directory left where the temp file goes said only "Is a directory" of `path`)."""
    reason = err.strerror or str(err)
    if err.filename is not None and str(err.filename) != str(path):
        return f"{reason}: {err.filename}"
    return reason


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
