# ruff: noqa: F821
# mypy: ignore-errors
# Not a nixpkgs shape: the formed cluster the other three-node scripts start from. Boot, wait
# until every node's first boot is done (our own bounded status command), and let
# `cluster-test --save-snapshot DIR` save it; the other runs restore it with `--from DIR`,
# where this script's start_all() returns at once. Run with `--nodes 1` or `--nodes 3`.
with subtest("every node's first boot is done"):
    start_all()
    for m in machines:
        m.wait_until_succeeds("fba status --wait --timeout 30", timeout=900)
        # and systemd's start-up is over: the READY line is on the console before the save,
        # never printed by a restored copy (which would look like a boot)
        m.wait_for_console_text("FBA-READY", timeout=300)
