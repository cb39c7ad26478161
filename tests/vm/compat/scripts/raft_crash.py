# ruff: noqa: F821
# mypy: ignore-errors
# The shape of nixos/tests/etcd/multi-node.nix (rendered): a Raft cluster forms, keeps a value,
# survives a member crash, and takes the member back. Adapted only in service names:
# etcd -> the chainfire (membership) and flaredb (KV) stand-ins, etcdctl -> curl on their API.
# Run with `--nodes 3`.
CURL = "curl -sS --fail-with-body --max-time 10 --cacert /etc/nixos/secrets/ca.crt"
# `etcdctl member list | grep` for our JSON: print the member ids, fail unless there are 3.
THREE_MEMBERS = (
    'python3 -c \'import json, sys; ids = [m["id"] for m in json.load(sys.stdin)["members"]];'
    " print(ids); sys.exit(len(ids) != 3)'"
)


def members(node):
    return f"{CURL} https://{node}:2379/admin/members"


with subtest("should start chainfire cluster"):
    start_all()
    node01.wait_for_unit("chainfire.service")
    node02.wait_for_unit("chainfire.service")
    node03.wait_for_unit("chainfire.service")
    node02.wait_until_succeeds(f"{members('node02')} | {THREE_MEMBERS}")
    node01.wait_until_succeeds(
        f"{CURL} -X PUT -H 'Content-Type: application/json' -d '{{\"value\": \"Hello world\"}}'"
        " https://node01:2479/kv/foo"
    )
    node02.wait_until_succeeds(f"{CURL} https://node02:2479/kv/foo | grep 'Hello world'")

with subtest("should survive member crash"):
    node02.crash()
    node01.wait_until_succeeds(f"{members('node01')} | grep '\"has_quorum\": true'")
    node01.wait_until_succeeds(
        f"{CURL} -X PUT -H 'Content-Type: application/json' -d '{{\"value\": \"Hello degraded world\"}}'"
        " https://node01:2479/kv/foo"
    )
    node03.wait_until_succeeds(f"{CURL} https://node03:2479/kv/foo | grep 'Hello degraded world'")

with subtest("should take the crashed member back"):
    node02.start()
    node02.wait_for_unit("chainfire.service")
    node02.wait_until_succeeds(f"{members('node02')} | {THREE_MEMBERS}")
    node02.wait_until_succeeds(f"{members('node02')} | grep '\"has_quorum\": true'")
    node02.wait_until_succeeds(f"{CURL} https://node02:2479/kv/foo | grep 'Hello degraded world'")
