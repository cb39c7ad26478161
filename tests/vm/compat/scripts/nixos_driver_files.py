# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/files.py (read at 18e91821), with the
# parts of common.py (at 94408557) it uses. Run with `--nodes 1` (`machine`).
# Changed, and why:
# - exampleDir is a fresh host temporary directory (upstream: /tmp/exampleDir, which parallel
#   runs on one host would share).
# - no_sleep() dropped: our waits are bounded by wall-clock time, so the 10 s timeout is real.
# - The expected timeout text is ours ("timed out waiting for file ..."; the driver: "action
#   timed out"); must_raise raises AssertionError so a miss is a recorded subtest failure.
# - The first wait_for_file writer has no `>&2`: the driver waits for its stdout to close (5 s),
#   ours returns once the shell exits; the file appears either way.
import tempfile
from contextlib import contextmanager
from pathlib import Path
from subprocess import check_call
from tempfile import TemporaryDirectory

exampleDir = Path(tempfile.mkdtemp()) / "exampleDir"
exampleDir.mkdir(parents=True, exist_ok=True)

exampleFile = exampleDir / "exampleFile"
exampleFile.write_bytes(bytes(range(256)))
assert exampleFile.exists()


def host_files_same(path1, path2):
    return check_call(["diff", path1, path2])


@contextmanager
def must_raise(exception_text, exception_class=Exception):
    try:
        yield
    except exception_class as e:
        if exception_text in str(e):
            return
        raise AssertionError(f"Expected exception {exception_text!r}, got: {e}") from e
    raise AssertionError(f"Expected exception {exception_text!r}")


start_all()

out = driver.out_dir

with subtest("File copy methods"):
    for method in [machine.copy_from_host, machine.copy_from_host_via_shell]:
        with subtest(f"{method.__name__}/copy_from_vm (file)"), TemporaryDirectory() as tmpdir:
            method(exampleFile, "/tmp/file")
            machine.copy_from_vm("/tmp/file", tmpdir)
            host_files_same(exampleFile, Path(tmpdir, "file"))
            machine.succeed("rm /tmp/file")

    with subtest("copy_from_host/copy_from_vm (dir)"), TemporaryDirectory() as tmpdir:
        machine.copy_from_host(exampleDir, "/tmp/dir")
        machine.copy_from_vm("/tmp/dir", tmpdir)
        host_files_same(exampleFile, Path(tmpdir, "dir", "exampleFile"))
        machine.succeed("rm -r /tmp/dir")

    with subtest("copy_from_vm"):
        machine.succeed("touch /tmp/file")
        machine.copy_from_vm("/tmp/file")
        assert (out / "file").exists()
        (out / "file").unlink()
        machine.succeed("rm /tmp/file")

    with subtest("wait_for_file"):
        machine.succeed("(sleep 5 && echo hello > /tmp/file) &")
        machine.wait_for_file("/tmp/file")
        machine.succeed("rm /tmp/file")

with subtest("wait_for_file"):
    with subtest("success"):
        machine.succeed("(sleep 5 && echo hello > /tmp/file) >&2 &")
        machine.wait_for_file("/tmp/file")
        machine.succeed("rm /tmp/file")

    with subtest("failure"), must_raise("timed out waiting for file /will/never/exist"):
        machine.wait_for_file("/will/never/exist", timeout=10)
