# ruff: noqa: F821
# mypy: ignore-errors
# nixos/tests/simple.nix, rendered testScript, unchanged. Run with `--nodes 1` (`machine`).
start_all()
machine.wait_for_unit("multi-user.target")
machine.shutdown()
