# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/succeed-stdout-warning.nix (testScript,
# read at 402c1d1d). Run with `--nodes 1` (`machine`).
# Changed, and why (each is a documented difference of `execute`, see the parity table):
# - A background child that keeps stdout open: the driver reads until stdout closes (15 s here)
#   and warns; ours returns once the shell exits, so "TWO" is never part of the output.
# - A command's stderr: the driver's goes to the console; ours goes to the run log and the
#   guest's /run/fba-command-stderr.log, which the last subtest checks.
# - Upstream ends by raising on purpose so its wrapper can inspect the build log; dropped.
import time

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("Fast command should NOT produce warning"):
    machine.succeed("echo 'MARKER: before fast command' >&2")
    output = machine.succeed("echo HELLO")
    assert output == "HELLO\n", f"Expected 'HELLO\\n', got {output!r}"
    machine.succeed("echo 'MARKER: after fast command' >&2")

with subtest("Background process keeps stdout open - ours returns when the shell exits"):
    machine.succeed("echo 'MARKER: before slow command' >&2")
    began = time.monotonic()
    output = machine.succeed("(echo ONE; sleep 15; echo TWO) &")
    took = time.monotonic() - began
    assert "TWO" not in output and took < 15, f"waited {took:.1f} s for the background child: {output!r}"
    machine.succeed("echo 'MARKER: after slow command' >&2")

with subtest("Exit status should be preserved (non-zero)"):
    try:
        machine.succeed("exit 42")
        raise AssertionError("Expected command to fail with exit code 42")
    except Exception as e:
        # Verify the exception message contains the correct exit code
        assert "exit code 42" in str(e), f"Expected 'exit code 42' in exception, got: {e}"

with subtest("User Command stderr should go to the stderr log"):
    machine.succeed("echo 'STDERR_TEST_MARKER: user command stderr output' >&2")
    machine.succeed("grep -q 'STDERR_TEST_MARKER: user command stderr output' /run/fba-command-stderr.log")
