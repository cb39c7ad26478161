# ruff: noqa: F821
# mypy: ignore-errors
# The shape of nixos/tests/redis.nix and zookeeper.nix (rendered): services waited on by unit,
# port and file. Adapted only in service names: chainfire/flaredb/iam stand-ins on our nodes,
# the chainfire marker our automation writes. Run with `--nodes 1` (`machine`).
start_all()

machine.wait_for_unit("chainfire.service")
machine.wait_for_unit("network.target")
machine.wait_for_open_port(2379, addr="node01")  # the stand-ins listen on the node's address
machine.wait_for_open_port(2479, addr="node01")

machine.wait_for_file("/var/lib/first-boot-automation/.chainfire-initialized")
machine.wait_for_unit("chainfire-cluster-join.service")

machine.wait_until_succeeds(
    "curl -sf --cacert /etc/nixos/secrets/ca.crt https://node01:2479/kv/foo"
    " -X PUT -H 'Content-Type: application/json' -d '{\"value\": \"hello\"}'"
)
machine.wait_until_succeeds("curl -sf --cacert /etc/nixos/secrets/ca.crt https://node01:2479/kv/foo | grep hello")
machine.succeed('curl -sf --cacert /etc/nixos/secrets/ca.crt https://node01:2379/health | grep \'"status": "ok"\'')
