# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/power.py (read at 94408557), after the
# `start_all()` that common.py adds. Unchanged otherwise. Run with `--nodes 1` (`machine`).
# The second round's wait_for_unit boots the machine again (a command on a stopped machine
# starts it, in the driver and here); the script ends with the machine crashed.
start_all()

with subtest("power off related"):
    for method in [machine.shutdown, machine.crash]:
        with subtest(method.__name__):
            machine.wait_for_unit("multi-user.target")
            method()
            machine.wait_for_shutdown()
            assert not machine.booted
            # No-op, but shouldn't throw an error:
            method()
            join_all()
            # Re-start the machine:
