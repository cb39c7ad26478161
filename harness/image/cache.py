"""Content-addressed cache entries: build once under a lock, publish with one rename.

Layout under the cache root (`$FBA_CACHE`, else `~/.cache/fba/images`):

    base/<hash>/      base.cpio.zst, vmlinuz, manifest.json
    deps/<hash>/      deps.cpio.zst
    code/<hash>/      code.cpio.zst
    images/<hash>/    vmlinuz, node.img, image.json   (what NetbootImage points at)
    locks/<kind>-<hash>.lock

An entry exists only complete: it is built in `<kind>/.tmp-<hash>-<pid>` and renamed into
place, so a killed build leaves at most a temp directory, removed by the next builder of the
same hash (which holds the lock, so nobody else is writing it) or by `clean`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import InfrastructureError, UsageError, WaitTimeout

LOCK_BUDGET_S = 1200.0
LOCK_POLL_S = 0.5
KINDS = ("base", "deps", "code", "images")


def default_cache_root() -> Path:
    configured = os.environ.get("FBA_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "fba" / "images"


@contextmanager
def locked(
    path: Path,
    *,
    budget_s: float = LOCK_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold an exclusive flock on `path`, waiting at most `budget_s` for another builder.

    Raises:
        WaitTimeout: the lock stayed held for the whole budget (says by whom, if known).
        InfrastructureError: the lock file cannot be created or opened; cause kept.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise InfrastructureError(
            f"image cache lock {path}: {err}; the cache directory must be writable (or point it elsewhere)"
        ) from err
    try:
        start = clock()
        acquired = False
        attempts = 0
        for _ in range(int(budget_s / LOCK_POLL_S) + 2):
            attempts += 1
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                acquired = True
                break
            except BlockingIOError:
                if clock() - start >= budget_s:
                    break
                sleep(LOCK_POLL_S)
        if not acquired:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise WaitTimeout(
                f"waiting for image cache lock {path}: still held by {holder} after "
                f"{clock() - start:.0f}/{budget_s:.0f} s ({attempts} attempts); another build "
                "is running or hung: kill it, or remove the lock file if no builder is alive"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


class Entry:
    """One cache entry of a kind (base/deps/code/images) named by a hash."""

    def __init__(self, root: Path, kind: str, key: str) -> None:
        if kind not in KINDS:
            raise UsageError(f"cache kind {kind!r}: expected one of {KINDS}")
        self.root = root
        self.kind = kind
        self.key = key
        self.path = root / kind / key

    @property
    def lock_path(self) -> Path:
        return self.root / "locks" / f"{self.kind}-{self.key}.lock"

    def exists(self) -> bool:
        return self.path.is_dir()

    @contextmanager
    def building(self) -> Iterator[Path]:
        """Yield a fresh temp dir; on normal exit it becomes the entry (one rename).

        Call only while holding `locked(entry.lock_path)` and after checking `exists()`.
        """
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f".tmp-{self.key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = parent / f".tmp-{self.key}-{os.getpid()}"
        tmp.mkdir()
        try:
            yield tmp
            os.rename(tmp, self.path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def ensure(entry: Entry, build: Callable[[Path], None], log: Callable[[str], None]) -> Path:
    """The entry's directory, calling `build(tmp_dir)` first if it does not exist yet.

    Raises:
        WaitTimeout: another builder held the entry's lock for the whole budget.
        InfrastructureError: the cache could not be written (disk full, permissions) or `build`
            failed on a file operation; the OSError is the cause.
    """
    if entry.exists():
        return entry.path
    try:
        with locked(entry.lock_path):
            if entry.exists():  # another builder finished while we waited
                log(f"{entry.kind} {entry.key}: built by another process")
                return entry.path
            started = time.monotonic()
            log(f"{entry.kind} {entry.key}: building")
            with entry.building() as tmp:
                build(tmp)
            log(f"{entry.kind} {entry.key}: built in {time.monotonic() - started:.1f} s")
    except OSError as err:
        raise InfrastructureError(
            f"image cache: building {entry.kind} {entry.key} in {entry.path.parent}: {err}; "
            "check free space and permissions there"
        ) from err
    return entry.path


def clean(root: Path, keep: set[str] | None = None) -> list[Path]:
    """Remove entries (all, or all but the `keep` hashes) and temp dirs. Returns what went."""
    removed: list[Path] = []
    for kind in KINDS:
        directory = root / kind
        if not directory.is_dir():
            continue
        for child in sorted(directory.iterdir()):
            name = child.name
            if keep is not None and name in keep:
                continue
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    if keep is None:
        shutil.rmtree(root / "locks", ignore_errors=True)
    return removed
