# ruff: noqa: F821
# mypy: ignore-errors
# The shape of nixos/tests/consul.nix (rendered): servers block()ed off the network one at a
# time; the rest keeps quorum; unblock() heals. Adapted only in service names: consul -> the
# chainfire (membership) and flaredb (KV) stand-ins, `consul ...` -> curl on their API.
# Run with `--nodes 3`.
CURL = "curl -sS --fail-with-body --max-time 5 --cacert /etc/nixos/secrets/ca.crt"
# `consul operator raft list-peers | grep true | wc -l` for our JSON: ids, fail unless 3.
THREE_MEMBERS = (
    'python3 -c \'import json, sys; ids = [m["id"] for m in json.load(sys.stdin)["members"]];'
    " print(ids); sys.exit(len(ids) != 3)'"
)
servers = [node01, node02, node03]

for m in machines:
    m.wait_for_unit("chainfire.service")


def wait_for_healthy_servers():
    for m in machines:
        m.wait_until_succeeds(f"{CURL} https://{m.name}:2379/admin/members | {THREE_MEMBERS}")
        m.wait_until_succeeds(f"{CURL} https://{m.name}:2379/admin/members | grep '\"has_quorum\": true'")


wait_for_healthy_servers()


def partition_test(server):
    others = [m for m in servers if m is not server]
    server.block()

    # The blocked server reaches nobody, and nobody reaches it.
    server.wait_until_fails(f"{CURL} https://{others[0].name}:2379/health")
    others[0].wait_until_fails(f"{CURL} https://{server.name}:2379/health")

    # The majority keeps working.
    others[0].wait_until_succeeds(f"{CURL} https://{others[0].name}:2379/admin/members | grep '\"has_quorum\": true'")
    others[0].wait_until_succeeds(
        f"{CURL} -X PUT -H 'Content-Type: application/json' -d '{{\"value\": \"{server.name}-away\"}}'"
        f" https://{others[0].name}:2479/kv/testkey"
    )
    others[1].wait_until_succeeds(f"{CURL} https://{others[1].name}:2479/kv/testkey | grep {server.name}-away")

    server.unblock()
    server.wait_until_succeeds(f"{CURL} https://{others[0].name}:2379/health")
    wait_for_healthy_servers()
    server.wait_until_succeeds(f"{CURL} https://{server.name}:2479/kv/testkey | grep {server.name}-away")


with subtest("partition node03 and heal"):
    partition_test(node03)

with subtest("partition node01 and heal"):
    partition_test(node01)
