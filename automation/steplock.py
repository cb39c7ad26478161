"""One run of a step at a time on a node: an exclusive `flock` per service in the state dir.

The unit and an operator running the same step by hand (`fba iam-setup` twice) both read the
state, both acted on it and both wrote it: two admin passwords were staged over each other, the
loser's 409 wrote `"admin_password": null` over the winner's, and the only copy of the admin
password was lost. Every step that writes markers or secrets (join, iam-setup, leave) takes
its service's lock before it reads a marker or the credentials file and holds it until it has
written them. A second run waits within the step's deadline (the unit's usual case: the first
run finishes, the second reads its marker and exits 2, "already done"), then gives up with
exit 1 and cause `another run holds the step` (systemd restarts the unit; an operator runs it
again). `join`, `leave` and their `--service` share the service's lock: both change its markers.

flock, not a lock file's existence: the kernel drops the lock when its holder exits, however it
exits (SIGKILL, a crashed machine leaves no stale lock). The lock files (`.chainfire.lock`, ...)
are never removed: removing one while another run waits on it would let a third lock a new file.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from automation import regularfile
from automation.deadline import Deadline
from automation.errors import StepBusy
from automation.log import Logger
from automation.markers import MarkerStore
from automation.spec.markers import Service, lock_name

POLL_S = 0.1  # how often a waiting run tries again; a step takes seconds at least


@contextmanager
def step_lock(markers: MarkerStore, service: Service, deadline: Deadline, log: Logger) -> Iterator[bool]:
    """Hold `service`'s lock in the state dir for the block; wait for it until `deadline`.
    Yields whether it had to wait (the step then has only what is left of its deadline).

    Raises:
        StepBusy: another run held it until the deadline (nothing was read or changed).
        MarkerError: the state directory cannot be created or used, or is refused (others
            may write to it). One that is not writable is locked itself (the step's own marker
            check fails before any request when it has something to record).
    """
    # The directory's mode is judged before the lock file is created in it: a state dir that
    # will be refused (others may write to it) is left untouched, not given a lock file first.
    warning = markers.judge_directory()
    if warning:
        log.warn(warning)
    path = markers.path(lock_name(service))
    fd = _open(path, markers.directory, log)
    if fd is None:
        yield False
        return
    try:
        yield _acquire(fd, path, deadline, log)
    finally:
        os.close(fd)  # releases the lock


# The lock file could not be opened because the state directory (or the file system) is not
# writable: a read-only mount, chattr +i (root ignores modes, not these), a mode that bars us.
_NOT_WRITABLE = (errno.EROFS, errno.EPERM, errno.EACCES)


def _open(path: Path, directory: Path, log: Logger) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        reason = regularfile.describe(err)
        if err.errno in _NOT_WRITABLE:
            # A step that must record its result fails before it sends anything: the marker
            # check (MarkerStore.ensure_directory) proves a file can be created there first. A
            # step that is already done (its marker says so) writes nothing and still ends 2:
            # failing here turned every boot of a joined node on a read-only state dir into a
            # failed unit.
            log.warn(
                f"Cannot create the lock {path} ({reason}): the state directory is not writable; locking "
                "the directory instead. A step that must record its result will fail before it sends anything",
                lock=str(path),
            )
        # Something odd in the lock's place (a symlink, a directory), or no file may be made:
        # the directory itself is locked instead, which excludes the same runs (and more: every
        # step of this state dir), and needs no write.
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        log.warn(f"Cannot lock {path} ({reason}) nor {directory} ({err.strerror}); running without a lock")
        return None


def _acquire(fd: int, path: Path, deadline: Deadline, log: Logger) -> bool:
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if waited:
                log.info("Lock taken after another fba run", lock=str(path), waited_s=round(deadline.elapsed(), 3))
            return waited
        except BlockingIOError:
            pass
        except OSError as err:
            # A file system without flock (ENOLCK, EOPNOTSUPP): as before locks existed, with a word.
            log.warn(f"Cannot lock {path}: {err.strerror}; running without a lock")
            return waited
        if not waited:
            waited = True
            log.info("Another fba run of this step holds its lock; waiting for it", lock=str(path))
        if deadline.expired():
            raise StepBusy(
                f"another fba run of this step held {path} for {deadline.elapsed():.1f}s (the step's deadline); "
                "nothing was read or changed: run it again once that run ended"
            )
        deadline.sleep(POLL_S)
