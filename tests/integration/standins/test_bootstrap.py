"""Three-node bootstrap of chainfire and flaredb on real Raft."""

from __future__ import annotations

import pytest

from standins import httpclient
from standins.contract import Service
from standins.launcher import wait_until

from .conftest import ClusterFactory


@pytest.mark.parametrize("service", [Service.CHAINFIRE, Service.FLAREDB])
def test_three_nodes_elect_one_leader_and_list_all_members(make_cluster: ClusterFactory, service: Service) -> None:
    cluster = make_cluster(service)
    cluster.bootstrap(3)
    leader = cluster.wait_leader([1, 2, 3])
    expected = [cluster.addr(n).id for n in (1, 2, 3)]
    roles = []
    for n in (1, 2, 3):
        health = cluster.health(n)
        assert health is not None
        assert health["service"] == service
        assert [m["id"] for m in health["members"]] == expected
        assert health["has_quorum"] is True
        roles.append(health["role"])
        members = httpclient.request("GET", cluster.addr(n).api_url + "/admin/members").body
        assert [m["id"] for m in members["members"]] == expected
        assert members["leader"]["id"] == cluster.addr(leader).id
        assert members["members"][n - 1]["api_url"] == cluster.addr(n).api_url
    assert sorted(roles) == ["follower", "follower", "leader"]


def test_health_is_503_starting_during_the_configured_delay(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.CHAINFIRE, size_hint=2)
    cluster.start_node(1, "--health-delay", "30", initial=cluster.initial_cluster(1))

    def answered() -> httpclient.HttpResult | None:
        try:
            return httpclient.request("GET", cluster.addr(1).api_url + "/health", timeout=1)
        except Exception:
            return None

    result = wait_until("health answers", answered, 10)
    assert result.status == 503
    assert result.body == {"status": "starting"}
    assert result.header("retry-after") == "1"


def test_join_mode_node_reports_joining(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.CHAINFIRE, size_hint=2)
    cluster.start_node(1)
    health = wait_until("joiner health", lambda: cluster.health(1), 10)
    assert health["role"] == "joining"
    assert health["members"] == [] and health["leader"] is None
    result = httpclient.request(
        "POST", cluster.addr(1).api_url + "/admin/member/add", {"id": "x", "raft_addr": "127.0.1.9:1"}
    )
    assert result.status == 503 and result.body["error"] == "no quorum"
