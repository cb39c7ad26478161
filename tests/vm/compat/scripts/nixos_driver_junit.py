# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/junit.nix (testScript, read at e168b6fe):
# two subtests whose results land in junit.xml (cluster-test always writes REPORT/junit.xml; the
# driver needs --junit). Run with `--nodes 1` (`machine`).
# Substituted: upstream's node config adds /etc/something ("nothing"); ours cannot change the
# image per test, so the /etc check reads /etc/hostname, which the node's injection populates.
# Our nodes use systemd-networkd already, as upstream's node is configured to.
machine.start()
machine.wait_for_unit("multi-user.target")

with subtest("systemd-networkd is started"):
    machine.succeed("systemctl status systemd-networkd.service")

with subtest("/etc is populated correctly"):
    output = machine.succeed("cat /etc/hostname")
    t.assertEqual(output, "node01\n")
