"""`fba provision`: install injected files into the secrets directory, as nixos-anywhere does.

Each regular file of `--source` (and of its subdirectories) is installed under `--dest`
(default /etc/nixos/secrets) with mode 0600, atomically, only when its content differs. Files
in `--dest` that the source does not have (the IAM credentials this node generated) are never
touched. Anything else in the source (a symlink, a FIFO, a socket, a device) is skipped with a
WARN line naming it. A target in `--dest` that is a symlink (secrets kept on a persistent
volume) stays one: the file it resolves to is replaced; a link leading nowhere is a problem
found before anything is replaced.

All or nothing: every source is read and every target checked before anything is replaced,
and the new files are staged and then renamed together (`write_all_atomic`). Installing file
by file once replaced `a`'s old secret and then stopped at an unreadable `z` with exit 70,
which says "nothing was changed". A file that cannot be installed is exit 1, with every old
secret kept; `--source`/`--dest` that are not directories are exit 3.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from automation import regularfile
from automation.errors import FbaError, MarkerError
from automation.log import Logger
from automation.markers import BadLink, judge_existing_directory, link_target, write_all_atomic
from automation.spec.exitcodes import ExitCode

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 10_000  # files and directories walked in the source; an injected tree is a handful
SHOWN_PROBLEMS = 3  # problems named in the one-line error; the rest are counted


@dataclass(frozen=True)
class _Item:
    relative: str
    target: Path
    data: bytes
    changed: bool


def run_provision(source: Path, dest: Path, log: Logger) -> ExitCode:
    log = log.bind(operation="provision")
    _require_directory("source", source, must_exist=True)
    created = not _require_directory("dest", dest, must_exist=False)
    if not created:
        refusal, warning = judge_existing_directory("provision --dest", dest, stat.S_IMODE(dest.stat().st_mode), 0o700)
        if refusal:
            raise FbaError(refusal, exit_code=ExitCode.INVALID)
        if warning:
            log.warn(f"Provision: {warning}", path=str(dest))
    files, skipped, problems = _read_source(source)
    for relative, what in skipped:
        # Kept skipping (a link could point anywhere on the installer; a FIFO has no content
        # to install), but said: a secret that silently did not arrive is found much later.
        log.warn(f"Provision: skipped {relative}: {what}, not a regular file", path=str(source / relative))
    items = []
    for relative, data in files:
        target = dest / relative
        problem = _target_problem(dest, target)
        if problem:
            problems.append(problem)
            continue
        items.append(_Item(relative, target, data, _content(target) != data))
    if problems:
        shown = "; ".join(problems[:SHOWN_PROBLEMS])
        more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
        raise FbaError(f"provision: nothing installed, every old file kept: {shown}{more}", exit_code=ExitCode.FAILED)
    try:
        _install(dest, items, created=created)
    except OSError as err:
        # MarkerError: a write that failed (disk full, read-only) carries its cause like a marker's.
        raise MarkerError(f"provision: cannot install {err.filename or dest}: {regularfile.describe(err)}") from None
    log.info(
        "Provisioned secrets",
        dest=str(dest),
        installed=[i.relative for i in items if i.changed],
        unchanged=[i.relative for i in items if not i.changed],
    )
    return ExitCode.OK


def _require_directory(flag: str, path: Path, *, must_exist: bool) -> bool:
    """A usage error (exit 3) unless `path` is a directory (or, for --dest, can become one).
    Returns whether it exists."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if must_exist:
            raise FbaError(
                f"provision --{flag} {path} is not a directory (it does not exist)", exit_code=ExitCode.INVALID
            ) from None
        return False
    except OSError as err:
        raise FbaError(
            f"provision --{flag} {path} is not a usable directory: {regularfile.describe(err)}",
            exit_code=ExitCode.INVALID,
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise FbaError(
            f"provision --{flag} {path} is not a directory (it is {regularfile.kind(info.st_mode)})",
            exit_code=ExitCode.INVALID,
        )
    return True


def _read_source(source: Path) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]], list[str]]:
    """(relative path, content) of every regular file under `source`, sorted; (relative path,
    what it is) of every entry skipped; one line per file or directory that could not be read.
    Symlinks are not followed (an injected tree holds files; a link could point anywhere on
    the installer)."""
    files: list[tuple[str, bytes]] = []
    skipped: list[tuple[str, str]] = []
    problems: list[str] = []
    pending, seen = [source], 0
    for _ in range(MAX_ENTRIES):
        if not pending or seen > MAX_ENTRIES:
            break
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as err:
            problems.append(f"{directory}: cannot list: {regularfile.describe(err)}")
            continue
        seen += len(entries)
        for entry in entries:
            path = Path(entry.path)
            relative = str(path.relative_to(source))
            if entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                try:
                    files.append((relative, regularfile.read(path, MAX_FILE_BYTES, follow_symlinks=False)))
                except OSError as err:
                    problems.append(f"{path}: {regularfile.describe(err)}")
            else:
                try:
                    what = regularfile.kind(entry.stat(follow_symlinks=False).st_mode)
                except OSError as err:
                    what = f"unknown ({regularfile.describe(err)})"
                skipped.append((relative, what))
    if pending or seen > MAX_ENTRIES:
        problems.append(f"{source}: more than {MAX_ENTRIES} entries; not an injected secrets tree")
    return sorted(files), sorted(skipped), problems


def _target_problem(dest: Path, target: Path) -> str | None:
    """Why `target` cannot be replaced by a file (None when it can): a directory in its place,
    or something other than a directory where one of its parent directories must be."""
    for parent in reversed(target.relative_to(dest).parents[:-1]):
        try:
            info = os.stat(dest / parent)
        except FileNotFoundError:
            return None  # created when installing
        except OSError as err:
            return f"{dest / parent}: {regularfile.describe(err)}"
        if not stat.S_ISDIR(info.st_mode):
            return f"{dest / parent} is {regularfile.kind(info.st_mode)}, not a directory"
    try:
        # A symlink stays and its target is replaced; one that leads nowhere usable is named
        # now, before anything is replaced (`link_target`).
        info = os.lstat(link_target(target))
    except BadLink as err:
        return f"{target}: {err.strerror}"
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"{target}: {regularfile.describe(err)}"
    if stat.S_ISDIR(info.st_mode):
        return f"{target} is a directory; a file cannot replace it"
    return None  # a file (or a FIFO, ...) that the rename replaces


def _content(target: Path) -> bytes | None:
    """What `target` holds now, or None when it is not a readable regular file (then it is
    replaced). Never blocks: a FIFO in the secrets dir once hung the install on its open."""
    try:
        return regularfile.read(target, MAX_FILE_BYTES)
    except OSError:
        return None


def _install(dest: Path, items: list[_Item], *, created: bool) -> None:
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    for item in items:
        item.target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_all_atomic([(i.target, i.data, 0o600) for i in items if i.changed])
    for item in items:
        if not item.changed:
            item.target.chmod(0o600)
    if created:
        dest.chmod(0o700)  # ours: the umask may have narrowed it; an existing one keeps its mode
