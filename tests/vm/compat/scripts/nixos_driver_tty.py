# ruff: noqa: F821
# mypy: ignore-errors
# From nixpkgs nixos/tests/nixos-test-driver/tty.py (read at 402127f9), reduced to its first
# call: our nodes have no virtual terminals (no display), so cluster-test rejects this script
# before booting: exit 4, one line naming wait_until_tty_matches. Not adapted: send_chars and
# send_key on a tty. Its wait_for_console_text subtest runs in nixos_driver_console_timeout.py.
with subtest("wait_until_tty_matches"):
    with subtest("success"):
        machine.wait_until_tty_matches("1", "root@")
