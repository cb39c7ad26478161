# ruff: noqa: F821
# mypy: ignore-errors
# A frozen VM (QMP `stop` after boot, SSH session established): a command with no timeout of
# its own must still end by the run deadline (`cluster-test --timeout`), naming the node.
# Run with `--nodes 1`.
with subtest("boot"):
    machine.wait_for_unit("multi-user.target")
    machine.succeed("true")

with subtest("frozen"):
    machine.send_monitor_command("stop")
    machine.succeed("true", timeout=None)
