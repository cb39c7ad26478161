"""Commands that write several files (`fba provision`, `fba units render`) check every input
and every target before they replace anything: a failure is one line, its documented exit
code, and every old file as it was. (Both wrote file after file and stopped at the first
failure, with earlier files already replaced; provision then exited 70, "nothing was changed".)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import FBA, Fba, Node
from .expect import mode_of

QUICK_S = 8.0
# Root reads mode-000 files; without these capabilities it cannot, as any other user.
NOCAP = (
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
)


def _provision(fba: Fba, source: Path, dest: Path, *prefix: str) -> tuple[int, str]:
    argv = [*prefix, str(FBA), "provision", "--source", str(source), "--dest", str(dest)]
    result = fba._run(argv, fba.env(), QUICK_S)
    assert "Traceback" not in result.output and "internal error" not in result.output, result.describe()
    return result.rc, result.output


def _tree(source: Path, dest: Path) -> None:
    source.mkdir()
    dest.mkdir(mode=0o700)
    (source / "a").write_bytes(b"new a\n")
    (dest / "a").write_bytes(b"old a\n")
    (source / "z").write_bytes(b"new z\n")


def _unreadable_prefix() -> tuple[str, ...]:
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv cannot make a file unreadable to itself")
    return NOCAP


# provision ----------------------------------------------------------------------------------


def test_an_unreadable_source_installs_nothing_and_keeps_the_old_secrets(fba: Fba, tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    _tree(source, dest)
    (source / "z").chmod(0)

    rc, output = _provision(fba, source, dest, *_unreadable_prefix())

    assert rc == ExitCode.FAILED, output
    assert "nothing installed" in output and f"{source / 'z'}: Permission denied" in output, output
    assert (dest / "a").read_bytes() == b"old a\n"  # sorted first, it used to be replaced already
    assert sorted(p.name for p in dest.iterdir()) == ["a"]  # no temp file left behind


def test_a_too_large_source_installs_nothing(fba: Fba, tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    _tree(source, dest)
    (source / "z").write_bytes(b"x" * (4 * 1024 * 1024 + 1))

    rc, output = _provision(fba, source, dest)

    assert rc == ExitCode.FAILED, output
    assert "larger than 4194304 bytes" in output, output
    assert (dest / "a").read_bytes() == b"old a\n"


def test_a_directory_where_a_file_goes_installs_nothing(fba: Fba, tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    _tree(source, dest)
    (dest / "z").mkdir()

    rc, output = _provision(fba, source, dest)

    assert rc == ExitCode.FAILED, output
    assert f"{dest / 'z'} is a directory" in output, output
    assert (dest / "a").read_bytes() == b"old a\n"


def test_a_file_where_a_directory_goes_installs_nothing(fba: Fba, tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    _tree(source, dest)
    (source / "tls").mkdir()
    (source / "tls" / "key").write_bytes(b"key\n")
    (dest / "tls").write_bytes(b"not a directory\n")

    rc, output = _provision(fba, source, dest)

    assert rc == ExitCode.FAILED, output
    assert f"{dest / 'tls'} is a regular file, not a directory" in output, output
    assert (dest / "a").read_bytes() == b"old a\n"


@pytest.mark.parametrize("kind", ["regular file", "file in its path"])
def test_a_dest_that_is_not_a_directory_is_a_usage_error(fba: Fba, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "a").write_bytes(b"a\n")
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    dest = blocker if kind == "regular file" else blocker / "secrets"

    rc, output = _provision(fba, source, dest)

    assert rc == ExitCode.INVALID, output
    assert f"provision --dest {dest} is not" in output, output
    assert len(output.strip().splitlines()) == 1, output


def test_provision_still_installs_a_tree(fba: Fba, tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    _tree(source, dest)
    (source / "tls").mkdir()
    (source / "tls" / "key").write_bytes(b"key\n")

    rc, output = _provision(fba, source, dest)

    assert rc == ExitCode.OK, output
    assert (dest / "a").read_bytes() == b"new a\n" and (dest / "tls" / "key").read_bytes() == b"key\n"
    assert mode_of(dest / "z") == 0o600 and mode_of(dest / "tls") == 0o700
    assert sorted(p.name for p in dest.iterdir()) == ["a", "tls", "z"]


# units render -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_units_render_checks_every_target_first_and_names_it(fba: Fba, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "units"
    target.mkdir()
    blocked = target / ("units.json" if kind == "directory" else "iam-initial-setup.service")
    if kind == "directory":
        blocked.mkdir()
    else:
        os.mkfifo(blocked)  # opened for writing, it would wait for a reader

    result = fba.run("units", "render", str(target), global_paths=False, timeout=QUICK_S)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert f"cannot write {blocked}:" in result.stderr and "nothing was written" in result.stderr, result.describe()
    assert sorted(p.name for p in target.iterdir()) == [blocked.name]  # no unit written, no temp file


def test_entries_that_are_not_files_are_skipped_with_a_warn_each(fba: Fba, tmp_path: Path) -> None:
    """Skipped as before (a link could point anywhere; a FIFO has nothing to install), but no
    longer silently: a secret that did not arrive is otherwise found much later."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    _tree(source, dest)
    os.mkfifo(source / "fifo")
    (source / "link").symlink_to("a")
    (source / "sub").mkdir()
    (source / "sub" / "dirlink").symlink_to("..")

    result = fba.run("provision", "--source", str(source), "--dest", str(dest), global_paths=False, timeout=QUICK_S)

    assert result.rc == ExitCode.OK, result.describe()
    warned = {line["context"]["path"]: line["message"] for line in result.levels("WARN")}
    assert warned == {
        str(source / "fifo"): "Provision: skipped fifo: a FIFO, not a regular file",
        str(source / "link"): "Provision: skipped link: a symlink, not a regular file",
        str(source / "sub" / "dirlink"): "Provision: skipped sub/dirlink: a symlink, not a regular file",
    }
    assert sorted(p.name for p in dest.iterdir()) == ["a", "z"]


# join and iam-setup: the marker they end by writing is checked before the cluster changes ---


def test_a_directory_in_the_joined_markers_place_stops_the_join_before_any_add(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    fba.marker(".chainfire-joined").mkdir(parents=True)

    result = fba.run("join", "--service", "chainfire", timeout=QUICK_S * 2)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert f"cannot write marker {fba.marker('.chainfire-joined')}: it is a directory" in result.output
    assert leader.requests_to("POST", "/admin/member/add") == []  # the cluster was not changed


def test_a_directory_in_the_iam_markers_place_stops_iam_setup_before_any_request(fba: Fba, node: Node) -> None:
    node.write_token()
    fba.write_config(node.config())
    fba.marker(".iam-initialized").mkdir(parents=True)

    result = fba.run("iam-setup", timeout=QUICK_S * 2)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "it is a directory" in result.output, result.describe()
    assert node.iam.requests == []
    assert not node.credentials_path.exists()


@pytest.mark.parametrize("kind", ["fifo", "regular file"])
def test_a_state_dir_that_is_not_a_directory_is_named(fba: Fba, node: Node, kind: str) -> None:
    fba.write_config(node.config())
    if kind == "fifo":
        os.mkfifo(fba.state_dir)
    else:
        fba.state_dir.write_bytes(b"")

    result = fba.run("join", "--service", "chainfire", timeout=QUICK_S)

    assert result.rc == ExitCode.FAILED, result.describe()
    what = "a FIFO" if kind == "fifo" else "a regular file"
    assert f"cannot use state directory {fba.state_dir}: it is {what}, not a directory" in result.output


def test_credentials_that_cannot_be_staged_are_one_line_not_a_traceback(fba: Fba, node: Node) -> None:
    """The credentials' directory cannot be made (/proc takes no new directories): exit 1 and
    one line before the admin is created, not exit 70."""
    node.write_token()
    fba.write_config(node.config(iam={"credentials_path": "/proc/fba-test-nowhere/iam-admin.json"}))

    result = fba.run("iam-setup", timeout=QUICK_S * 2)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "cannot create /proc/fba-test-nowhere for the IAM credentials" in result.output, result.describe()
    assert node.iam.requests_to("POST", "/users") == []


# symlinked targets (break 7, finding 4) ------------------------------------------------------


def test_a_symlinked_target_stays_a_link_and_its_target_gets_the_secret(fba: Fba, tmp_path: Path) -> None:
    """The rename replaced the link with a plain file; the persistent target kept the old one."""
    source, dest, persist = tmp_path / "source", tmp_path / "dest", tmp_path / "persist"
    _tree(source, dest)
    persist.mkdir()
    (persist / "z").write_bytes(b"old z\n")
    (dest / "z").symlink_to(persist / "z")

    rc, output = _provision(fba, source, dest)

    assert rc == ExitCode.OK, output
    assert (dest / "z").is_symlink() and os.readlink(dest / "z") == str(persist / "z")
    assert (persist / "z").read_bytes() == b"new z\n" and mode_of(persist / "z") == 0o600
    assert sorted(p.name for p in persist.iterdir()) == ["z"]  # no temp file left beside it


@pytest.mark.parametrize("kind", ["dangling", "loop", "device"])
def test_a_symlink_leading_nowhere_installs_nothing_and_says_so(fba: Fba, tmp_path: Path, kind: str) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    _tree(source, dest)
    if kind == "dangling":
        (dest / "z").symlink_to(tmp_path / "nowhere")
        said = "which does not exist"
    elif kind == "loop":
        (dest / "z").symlink_to(dest / "y")
        (dest / "y").symlink_to(dest / "z")
        said = "Too many levels of symbolic links"
    else:
        (dest / "z").symlink_to("/dev/null")
        said = "which is a character device, not a regular file"

    rc, output = _provision(fba, source, dest)

    assert rc == ExitCode.FAILED, output
    assert "nothing installed" in output and f"{dest / 'z'}: a symlink to" in output and said in output, output
    assert len(output.strip().splitlines()) == 1, output
    assert (dest / "a").read_bytes() == b"old a\n" and (dest / "z").is_symlink()
