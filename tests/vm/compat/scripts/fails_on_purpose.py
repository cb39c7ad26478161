# ruff: noqa: F821
# mypy: ignore-errors
# A script that fails on purpose: the second subtest's check fails, the others still run
# (every failure reaches JUnit). Run with `--nodes 1`.
with subtest("hostname is right"):
    machine.wait_for_unit("multi-user.target")
    t.assertIn("node01", machine.succeed("hostname"))

with subtest("a check that fails on purpose"):
    machine.succeed("test -e /etc/this-file-does-not-exist")

with subtest("runs after the failure"):
    machine.fail("test -e /etc/this-file-does-not-exist")
