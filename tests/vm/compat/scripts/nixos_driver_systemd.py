# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/systemd.py (read at 18e91821), with the
# parts of common.py (at 94408557) it uses; nixpkgs prepends common.py to every script of that
# directory. Run with `--nodes 1` (`machine`).
# Changed: the expected error text is ours ("... is in state 'active', expected 'borked'"; the
# driver's says "... to be in state 'borked'"); must_raise raises AssertionError, so a miss is a
# recorded subtest failure and the run goes on (cluster-test runs with keep_going).
from contextlib import contextmanager


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

machine.wait_for_unit("multi-user.target")

with subtest("require_unit_state"):
    machine.require_unit_state("multi-user.target", "active")
    with must_raise("expected 'borked'"):
        machine.require_unit_state("multi-user.target", "borked")
