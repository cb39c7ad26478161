"""Kill the leader: a new one is elected and serves member add."""

from __future__ import annotations

from standins import httpclient
from standins.contract import Service
from standins.launcher import wait_until

from .conftest import ClusterFactory


def test_killed_leader_is_replaced_and_new_leader_adds(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.CHAINFIRE)
    cluster.bootstrap(3)
    old = cluster.wait_leader([1, 2, 3])
    cluster.procs[cluster.addr(old).id].kill()
    rest = [n for n in (1, 2, 3) if n != old]
    new = cluster.wait_leader(rest, timeout=20)
    assert new != old
    cluster.start_node(4)
    wait_until("node04 health", lambda: cluster.health(4), 10)

    def added() -> httpclient.HttpResult | None:
        result = httpclient.request(
            "POST",
            cluster.addr(new).api_url + "/admin/member/add",
            {"id": "node04", "raft_addr": cluster.addr(4).raft_addr},
            timeout=15,
        )
        return result if result.status != 503 else None

    result = wait_until("add on the new leader", added, 20, interval=0.5)
    assert result.status == 201, result.body

    def follows() -> str | None:
        h = cluster.health(4)
        return h["leader"]["id"] if h and h["leader"] else None

    assert wait_until("node04 follows", follows, 15) == cluster.addr(new).id
