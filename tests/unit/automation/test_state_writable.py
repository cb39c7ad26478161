"""Break 7, findings 4, 5 and 9: user-given symlinks stay links, and a step proves it can record
its result (the state dir judged before its lock file is made, and writable) before it sends
anything."""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from automation.deadline import Deadline
from automation.errors import MarkerError
from automation.log import Logger
from automation.markers import MarkerStore, link_target, write_all_atomic, write_atomic
from automation.spec.markers import Service, lock_name
from automation.steplock import step_lock

# symlinks (finding 4) ---------------------------------------------------------------------


def test_a_user_given_symlink_stays_and_its_target_is_replaced(tmp_path: Path) -> None:
    persist = tmp_path / "persist"
    persist.mkdir()
    (persist / "iam-admin.json").write_bytes(b"old\n")
    link = tmp_path / "iam-admin.json"
    link.symlink_to(persist / "iam-admin.json")

    write_atomic(link, b"new\n", mode=0o600, follow_link=True)

    assert link.is_symlink() and os.readlink(link) == str(persist / "iam-admin.json")
    assert (persist / "iam-admin.json").read_bytes() == b"new\n"
    assert stat.S_IMODE((persist / "iam-admin.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in persist.iterdir()) == ["iam-admin.json"]  # the temp file was renamed


def test_write_all_atomic_keeps_links_and_replaces_their_targets(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"old\n")
    (tmp_path / "link").symlink_to("real")  # relative, as users write them
    write_all_atomic([(tmp_path / "link", b"new\n", 0o600), (tmp_path / "plain", b"p\n", 0o600)])
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real").read_bytes() == b"new\n"
    assert (tmp_path / "plain").read_bytes() == b"p\n"


@pytest.mark.parametrize("kind", ["dangling", "loop", "device"])
def test_a_link_leading_nowhere_is_one_line_and_nothing_changes(tmp_path: Path, kind: str) -> None:
    link = tmp_path / "creds"
    if kind == "dangling":
        link.symlink_to(tmp_path / "persist" / "creds")
        said = "which does not exist"
    elif kind == "loop":
        link.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(link)
        said = "Too many levels of symbolic links"
    else:
        link.symlink_to("/dev/null")
        said = "which is a character device, not a regular file"
    with pytest.raises(MarkerError) as caught:
        write_atomic(link, b"secret\n", mode=0o600, follow_link=True)
    assert caught.value.message.startswith(f"cannot write {link}: a symlink to ") and said in caught.value.message
    assert "\n" not in caught.value.message
    assert link.is_symlink() and os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(OSError, match=said):
        write_all_atomic([(link, b"secret\n", 0o600)])
    assert link.is_symlink()


def test_a_marker_is_ours_and_is_not_followed(tmp_path: Path) -> None:
    """Markers keep their rule: a symlinked marker is corrupt when read; written, it is replaced."""
    markers = MarkerStore(tmp_path / "state")
    markers.ensure_directory()
    (tmp_path / "elsewhere").write_bytes(b"x\n")
    markers.path(".chainfire-joined").symlink_to(tmp_path / "elsewhere")
    markers.write(".chainfire-joined")
    assert not markers.path(".chainfire-joined").is_symlink()
    assert (tmp_path / "elsewhere").read_bytes() == b"x\n"


def test_link_target_of_a_plain_or_absent_path_is_the_path(tmp_path: Path) -> None:
    assert link_target(tmp_path / "absent") == tmp_path / "absent"
    (tmp_path / "file").write_bytes(b"")
    assert link_target(tmp_path / "file") == tmp_path / "file"


# the state dir judged and proven before anything is sent (findings 5 and 9) ----------------


def _lock(markers: MarkerStore, service: Service = Service.CHAINFIRE) -> Any:
    return step_lock(markers, service, Deadline.start(1.0), Logger())


@pytest.mark.parametrize("mode", [0o777, 0o770])
def test_a_state_dir_that_will_be_refused_gets_no_lock_file(tmp_path: Path, mode: int) -> None:
    """Finding 9: .chainfire.lock was created in it before its mode was judged."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    with pytest.raises(MarkerError, match="may write to it"), _lock(MarkerStore(state)):
        pass
    assert list(state.iterdir()) == []


def _refuse_creating(monkeypatch: pytest.MonkeyPatch, directory: Path, code: int) -> None:
    """os.open creating a file in `directory` fails with `code`, as in an immutable directory
    (root ignores modes, not chattr +i; chattr needs a file system that has it). An existing
    file there still opens, as it does in such a directory."""
    real_open = os.open

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and Path(path).parent == directory and not os.path.lexists(path):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EPERM, errno.EACCES])
def test_a_lock_file_that_cannot_be_created_locks_the_directory_and_the_marker_check_fails_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """Finding 5: the step ran on to fail at its marker after the cluster had changed. Now the
    marker check, before any request, proves a file can be made; the lock itself only warns,
    so a step with nothing to write (already done) still ends 2 on a read-only state dir."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    markers = MarkerStore(state)
    out = io.StringIO()
    _refuse_creating(monkeypatch, state, code)
    with step_lock(markers, Service.CHAINFIRE, Deadline.start(1.0), Logger(stream=out)):
        held = os.open(state, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):  # the directory is what is locked
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(held)
        with pytest.raises(MarkerError) as caught:
            markers.ensure_directory(".chainfire-joined")
    assert caught.value.cause.value == "state not written"
    warned = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [w["level"] for w in warned] == ["WARN"]
    assert (
        f"Cannot create the lock {state / lock_name(Service.CHAINFIRE)} ({os.strerror(code)})" in warned[0]["message"]
    )
    assert list(state.iterdir()) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.EPERM, errno.EACCES])
def test_a_state_dir_not_writable_is_found_before_the_step_sends_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """The lock file may exist from an earlier run (chattr +i after it): the marker check
    itself proves a file can be created there."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / lock_name(Service.CHAINFIRE)).write_bytes(b"")
    markers = MarkerStore(state)
    _refuse_creating(monkeypatch, state, code)
    with _lock(markers), pytest.raises(MarkerError) as caught:
        markers.ensure_directory(".chainfire-joined")
    assert caught.value.cause.value == "state not written"
    assert f"cannot write in state directory {state}: {os.strerror(code)}" in caught.value.message


def test_a_wide_state_dir_is_warned_about_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    markers = MarkerStore(state)
    assert markers.judge_directory() is not None
    assert markers.ensure_directory() is None
    assert sorted(p.name for p in state.iterdir()) == []  # the write probe is gone again
