# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/busybox.nix (testScript, read at 085e40b3):
# the driver's basic verbs still work on a machine that has busybox installed. Our image ships
# busybox-static already (/usr/bin/busybox, also the initramfs /init), so the script is the
# upstream one plus a check of that premise. Run with `--nodes 1` (`machine`).
start_all()
machine.wait_for_unit("multi-user.target")
machine.succeed("busybox true")  # ours: the premise (upstream installs it in the node config)
