"""Faults of the node itself around a step (break6): two runs of one step at once, a stdout
that is closed or broken, a write that fails (disk full), TLS files that exist but cannot be
loaded. Each test failed before its fix."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from automation import cli
from automation.spec.exitcodes import ExitCode

from .conftest import FBA, NODE_ID, RAFT_ADDR, Fba, FbaResult, Node, cause, collect
from .expect import IAM_INITIALIZED, JOINED, assert_marker
from .fakes_join import write_old_marker

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")


def _creds(node: Node) -> dict[str, Any]:
    value = json.loads(node.credentials_path.read_text())
    assert isinstance(value, dict)
    return value


# Two runs of one step at once --------------------------------------------------------------


def test_two_concurrent_iam_setups_keep_the_only_copy_of_the_admin_password(fba: Fba, node: Node) -> None:
    # The tester's shape: the admin list answers after 1 s, so both runs read "no admin" at once
    # without a lock; one's create got 201, the other's 409 wrote null over the password.
    node.write_token()
    node.iam.delay("GET", "/users", 1.0)
    fba.write_config(node.config(join={"request_timeout_s": 3}))  # the tester's 2 s, with room under load

    runs = [fba.start("iam-setup"), fba.start("iam-setup")]
    results = [collect(proc) for proc in runs]

    assert sorted(r.rc for r in results) == [ExitCode.OK, ExitCode.ALREADY_DONE], [r.describe() for r in results]
    creds = _creds(node)
    assert creds["admin_status"] == "created"
    assert creds["admin_password"] == node.iam_state.users["admin"]["password"]
    assert len(node.iam.requests_to("POST", "/users")) == 1
    assert_marker(fba.marker(IAM_INITIALIZED))


def test_two_concurrent_joins_send_one_add(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.delay("GET", "/admin/members", 0.5)
    fba.write_config(node.config())

    runs = [fba.start(*JOIN), fba.start(*JOIN)]
    results = [collect(proc) for proc in runs]

    assert sorted(r.rc for r in results) == [ExitCode.OK, ExitCode.ALREADY_DONE], [r.describe() for r in results]
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert_marker(fba.marker(JOINED))


@contextmanager
def _held(path: Path) -> Iterator[None]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("argv", "lock"),
    [(JOIN, ".chainfire.lock"), (LEAVE, ".chainfire.lock"), (("iam-setup",), ".iam.lock")],
    ids=["join", "leave", "iam-setup"],
)
def test_a_step_whose_lock_is_held_waits_then_gives_up_having_changed_nothing(
    fba: Fba, node: Node, argv: tuple[str, ...], lock: str
) -> None:
    leader = node.leader()
    node.write_token()
    fba.write_config(node.config(join={"deadline_s": 1}))

    with _held(fba.state_dir / lock):
        started = time.monotonic()
        result = fba.run(*argv)
        took = time.monotonic() - started

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "another run holds the step", result.describe()
    assert "Traceback" not in result.stderr
    assert took < 10, result.describe()
    assert leader.requests == [] and node.iam.requests == [] and node.chainfire.requests == []
    assert not node.credentials_path.exists()


def test_a_credentials_file_changed_during_the_run_is_never_written_over(fba: Fba, node: Node) -> None:
    # A writer without the lock (an older fba, a restored backup) put its password in the file
    # while this run waited for IAM: this run does not know that password and must not replace it.
    node.write_token()
    fba.write_config(node.config())
    proc = fba.start("iam-setup", env={"FBA_FAILPOINTS": "iam.after-admin-create=sleep:2"})
    deadline = time.monotonic() + 10
    while not node.iam.requests_to("POST", "/users") and time.monotonic() < deadline:
        time.sleep(0.05)
    other = dict(_creds(node), admin_password="the-other-writers-password", admin_status="created")
    node.credentials_path.write_text(json.dumps(other))

    result = collect(proc)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "state not written", result.describe()
    assert _creds(node)["admin_password"] == "the-other-writers-password"
    assert "the-other-writers-password" not in result.output


# A closed or broken stdout -----------------------------------------------------------------


def _run_with_stdout(fba: Fba, how: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(FBA), "--config", str(fba.config_path), "--state-dir", str(fba.state_dir), *args]
    if how == "closed":
        return subprocess.run(
            ["bash", "-c", 'exec "$@" >&-', "fba", *argv],
            env=fba.env(),
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    read, write = os.pipe()
    os.close(read)  # the reader left: every write is EPIPE (fba ignores SIGPIPE, as Python does)
    try:
        return subprocess.run(argv, env=fba.env(), stdout=write, stderr=subprocess.PIPE, text=True, timeout=30)
    finally:
        os.close(write)


@pytest.mark.parametrize("how", ["closed", "broken-pipe"])
def test_a_join_with_a_closed_or_broken_stdout_still_joins(fba: Fba, node: Node, how: str) -> None:
    leader = node.leader()
    fba.write_config(node.config())

    done = _run_with_stdout(fba, how, *JOIN)

    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stderr == ""
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert_marker(fba.marker(JOINED))


@pytest.mark.parametrize("how", ["closed", "broken-pipe"])
@pytest.mark.parametrize(
    "argv",
    [("status", "--timeout", "0"), ("config", "validate"), ("detect",)],
    ids=["status", "config-validate", "detect"],
)
def test_every_output_path_survives_a_closed_or_broken_stdout(
    fba: Fba, node: Node, how: str, argv: tuple[str, ...]
) -> None:
    fba.write_config(node.config())
    expected = fba.run(*argv).rc

    done = _run_with_stdout(fba, how, *argv)

    assert done.returncode == expected, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


# A write that fails (disk full) --------------------------------------------------------------


def _run_in_process(fba: Fba, capsys: pytest.CaptureFixture[str], *args: str) -> FbaResult:
    argv = ["--config", str(fba.config_path), "--state-dir", str(fba.state_dir), *args]
    code = cli.run(argv, fba.env())
    out, err = capsys.readouterr()
    return FbaResult(tuple(argv), code, out, err, 0.0)


def _disk_full_under(monkeypatch: pytest.MonkeyPatch, *directories: Path) -> None:
    """os.write raises ENOSPC for files under `directories` (a full tmpfs, without root)."""
    real_write = os.write
    roots = [str(d.resolve()) for d in directories]

    def write(fd: int, data: Any) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if any(target.startswith(root) for root in roots):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_a_marker_write_on_a_full_disk_names_its_cause(
    fba: Fba, node: Node, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    _disk_full_under(monkeypatch, fba.state_dir)

    result = _run_in_process(fba, capsys, *JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "No space left on device" in result.last["message"], result.describe()
    assert cause(result.last) == "state not written", result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert not fba.marker(JOINED).exists()


def test_a_credentials_write_on_a_full_disk_names_its_cause(
    fba: Fba, node: Node, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node.write_token()
    fba.write_config(node.config())
    _disk_full_under(monkeypatch, node.credentials_path.parent)

    result = _run_in_process(fba, capsys, "iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "state not written", result.describe()
    assert node.iam.requests_to("POST", "/users") == []  # the password was never staged: no create


# A state dir that cannot be written (break 7, finding 5) --------------------------------------


def _immutable(monkeypatch: pytest.MonkeyPatch, directory: Path, code: int) -> None:
    """Creating a file in `directory` fails with `code`, as in a directory made immutable
    (chattr +i: root ignores modes, not that) or on a read-only mount; files already there
    still open, as they do under chattr +i."""
    real_open = os.open
    where = directory.resolve()

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and Path(path).parent.resolve() == where and not os.path.lexists(path):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.parametrize("code", [errno.EPERM, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("lock_exists", [False, True], ids=["no-lock-file", "lock-file-from-before"])
@pytest.mark.parametrize("argv", [JOIN, LEAVE, ("iam-setup",)], ids=["join", "leave", "iam-setup"])
def test_a_state_dir_that_cannot_be_written_fails_before_anything_is_sent(
    fba: Fba,
    node: Node,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    lock_exists: bool,
    code: int,
) -> None:
    """The join added this node, verified it, then failed writing its marker (exit 1 saying
    "failed" about a node that had joined). The lock file's creation failing, or the state
    dir refusing a new file, is now the failure, before any request."""
    leader = node.leader()
    node.write_token()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    if lock_exists:
        for lock in (".chainfire.lock", ".iam.lock"):
            (fba.state_dir / lock).write_bytes(b"")
    _immutable(monkeypatch, fba.state_dir, code)

    result = _run_in_process(fba, capsys, *argv)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "state not written", result.describe()
    assert (result.last["service"], result.last["operation"]) != ("fba", ""), result.last  # break 8, finding 11
    assert os.strerror(code) in result.last["message"] and str(fba.state_dir) in result.last["message"]
    assert leader.admin_requests() == [] and node.iam.requests_to("POST", "/users") == []
    assert node.iam.requests_to("GET", "/users?role=admin") == []
    assert "Traceback" not in result.output


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("argv", [JOIN, ("iam-setup",)], ids=["join", "iam-setup"])
def test_a_done_step_on_a_state_dir_that_cannot_be_written_is_still_done(
    fba: Fba,
    node: Node,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    code: int,
) -> None:
    """A joined node whose state dir became read-only later: its marker says done and nothing
    needs writing, so every boot ends 2 (already done) with a WARN naming the directory,
    instead of a failed unit at each boot (the lock file's creation was the failure)."""
    leader = node.leader()
    node.write_token()
    fba.write_config(node.config())
    assert fba.run(*argv).rc == ExitCode.OK
    for lock in fba.state_dir.glob(".*.lock"):
        lock.unlink()  # a lock file is made at first use: a state dir read-only since has none
    sent = (len(leader.admin_requests()), len(node.iam.requests_to("POST", "/users")))
    _immutable(monkeypatch, fba.state_dir, code)

    result = _run_in_process(fba, capsys, *argv)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    warned = [line for line in result.lines if line["level"] == "WARN"]
    assert any("the state directory is not writable" in line["message"] for line in warned), result.describe()
    assert (len(leader.admin_requests()), len(node.iam.requests_to("POST", "/users"))) == sent


def test_a_marker_the_leader_confirms_on_a_state_dir_that_cannot_be_written_is_done(
    fba: Fba, node: Node, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Break 8, finding 10: a marker of another identity (an older fba's), which the leader
    confirms, could not be re-written on a read-only state dir: exit 1, when the same marker
    with no leader answering was exit 2. Now: exit 2 with a WARN, the marker as it was."""
    node.leader()
    node.clusters["chainfire"].members[NODE_ID] = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": ""}
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    before = write_old_marker(fba.state_dir / JOINED)
    _immutable(monkeypatch, fba.state_dir, errno.EROFS)

    result = _run_in_process(fba, capsys, *JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert result.with_message("could not be re-written", "WARN"), result.describe()
    assert (fba.state_dir / JOINED).read_text() == before


@pytest.mark.parametrize("code", [errno.EPERM, errno.EROFS])
def test_a_credentials_dir_that_cannot_be_written_fails_before_iam_is_asked(
    fba: Fba, node: Node, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    node.write_token()
    fba.write_config(node.config())
    node.credentials_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _immutable(monkeypatch, node.credentials_path.parent, code)

    result = _run_in_process(fba, capsys, "iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "state not written", result.describe()
    assert "IAM credentials directory" in result.last["message"], result.describe()
    assert [r for r in node.iam.requests if r.path != "/health"] == []


def test_a_state_dir_that_will_be_refused_gets_no_lock_file(fba: Fba, node: Node) -> None:
    """Break 7, finding 9: .chainfire.lock was created in it before its mode was judged."""
    leader = node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir()
    fba.state_dir.chmod(0o777)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "may write to it" in result.last["message"], result.describe()
    assert list(fba.state_dir.iterdir()) == []
    assert leader.admin_requests() == []


# TLS files that exist but cannot be loaded ----------------------------------------------------


@pytest.mark.parametrize("which", ["ca_cert_path", "node_key_path"])
@pytest.mark.parametrize(
    "argv",
    [JOIN, LEAVE, ("iam-setup",), ("wait-healthy", "--service", "chainfire"), ("health-report",)],
    ids=["join", "leave", "iam-setup", "wait-healthy", "health-report"],
)
def test_a_tls_file_that_cannot_be_loaded_is_invalid_configuration(
    fba: Fba, tls_node: Node, tmp_path: Path, which: str, argv: tuple[str, ...]
) -> None:
    leader = tls_node.leader()
    tls_node.write_token()
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    broken.chmod(0o600)
    tls: dict[str, Any] = {which: str(broken)}
    if which == "node_key_path":
        tls["node_cert_path"] = str(tls_node.tls.pki.client_cert) if tls_node.tls else None
    fba.write_config(tls_node.config(tls=tls))

    result = fba.run(*argv)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert cause(result.last) == "invalid configuration", result.describe()
    assert "TLS set-up failed" in result.output and str(broken) in result.output, result.describe()
    assert leader.admin_requests() == []


def test_only_a_tls_file_that_exists_is_invalid_configuration(fba: Fba, tls_node: Node, tmp_path: Path) -> None:
    # The line between 3 and 1: a missing file may still be provisioned (exit 1, restarted by
    # systemd); preflight reports, never refuses (a failed check, exit 1).
    tls_node.leader()
    broken = tmp_path / "broken.pem"
    broken.write_text("garbage\n")
    fba.write_config(tls_node.config(tls={"ca_cert_path": str(broken)}))
    unloadable = fba.run(*JOIN)
    checked = fba.run("preflight")
    fba.write_config(tls_node.config(tls={"ca_cert_path": str(tmp_path / "absent.pem")}))
    missing = fba.run(*JOIN)

    assert unloadable.rc == ExitCode.INVALID, unloadable.describe()
    assert checked.rc == ExitCode.FAILED, checked.describe()
    assert missing.rc == ExitCode.FAILED, missing.describe()
    assert cause(missing.last) == "TLS set-up failed", missing.describe()
