# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/unit-active-state.nix (read at 1c4bf04a).
# Run with `--nodes 1` (`machine`). The verbs and their order are upstream's.
# Changed: upstream's `test.service` is NixOS config with `Type=notify-reload` (systemd >= 253);
# the Debian 12 node has systemd 252, so the unit is written at run time as a `Type=oneshot`
# with `RemainAfterExit=yes` (`activating` while its 5 s start runs, then `active`), an
# `ExecReload=` (`reloading` while it runs) and an `ExecStop=` that exits 1 after 5 s
# (`deactivating`, then `failed`): the same states for the same 5 s, without sd_notify.
import textwrap

UNIT = textwrap.dedent("""\
    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/bin/sleep 5
    ExecReload=/bin/sleep 5
    ExecStop=/bin/sh -c 'sleep 5; exit 1'
""")

with subtest("unit active states"):
    machine.succeed(f"cat > /run/systemd/system/test.service <<'EOF'\n{UNIT}EOF\nsystemctl daemon-reload")
    machine.wait_for_unit_active_state("test.service", "inactive", timeout=10)
    machine.succeed("systemctl start --no-block test.service")
    machine.wait_for_unit_active_state("test.service", "activating", timeout=10)
    machine.wait_for_unit_active_state("test.service", "active", timeout=10)
    machine.succeed("systemctl reload --no-block test.service")
    machine.wait_for_unit_active_state("test.service", "reloading", timeout=10)
    machine.wait_for_unit_active_state("test.service", "active")
    machine.succeed("systemctl stop --no-block test.service", timeout=10)
    machine.wait_for_unit_active_state("test.service", "deactivating", timeout=10)
    machine.wait_for_unit_active_state("test.service", "failed", timeout=10)
