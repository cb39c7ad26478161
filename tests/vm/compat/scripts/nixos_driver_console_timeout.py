# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/console-timeout.nix (testScript, read at
# 102b00ab), plus the `wait_for_console_text` failure subtest of tty.py (read at 402127f9; the
# rest of tty.py needs virtual terminals, see nixos_driver_tty.py). Run with `--nodes 1`.
# Substituted: upstream's node config defines generate-output.service, and NixOS test VMs
# forward service output to the console. Ours cannot change the image per test, so the script
# writes the same unit to /run/systemd/system first, with StandardOutput=journal+console.
# no_sleep() dropped from the tty.py part: our waits are bounded by wall-clock time.
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


GENERATE_OUTPUT = """echo "match that"
sleep 1

for i in $(seq 15); do
  echo "line $i"
done

echo "match this"
"""
UNIT = """[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/bin/sh /run/generate-output.sh
"""

machine.start()
machine.wait_for_unit("multi-user.target")
machine.succeed(  # ours: the node config upstream has
    f"cat > /run/generate-output.sh <<'EOF'\n{GENERATE_OUTPUT}EOF\n",
    f"cat > /run/systemd/system/generate-output.service <<'EOF'\n{UNIT}EOF\n",
    "systemctl daemon-reload",
)

machine.systemctl("start generate-output")
machine.wait_for_console_text("match that")
machine.wait_for_console_text("match this", timeout=10)

with subtest("wait_for_console_text"):
    with subtest("failure"), must_raise("timed out waiting for"):
        machine.wait_for_console_text("foobar", timeout=10)
