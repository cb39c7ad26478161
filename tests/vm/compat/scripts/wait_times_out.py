# ruff: noqa: F821
# mypy: ignore-errors
# A wait that times out: `wait_until_succeeds` gives up after its 5 s, whatever the guest is
# doing (here it is still booting). Run with `--nodes 1`.
with subtest("a wait that cannot succeed"):
    machine.wait_until_succeeds("false", timeout=5)
