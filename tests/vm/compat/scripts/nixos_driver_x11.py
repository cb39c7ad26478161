# ruff: noqa: F821
# mypy: ignore-errors
# From nixpkgs nixos/tests/nixos-test-driver/x11.py (read at 402127f9), reduced to its first
# call: our nodes run without a display (no X11, no screenshots), so cluster-test rejects this
# script before booting: exit 4, one line naming wait_for_x. Not adapted: the rest of upstream's
# script (wait_for_window, get_window_names, screenshot), which needs the same display.
with subtest("wait_for_x"):
    machine.wait_for_x()
