"""Member add/remove semantics, leader hints, one change at a time, restarts."""

from __future__ import annotations

import threading
from pathlib import Path

from pysyncobj.journal import FileJournal
from pysyncobj.syncobj import _COMMAND_TYPE

from standins import httpclient
from standins.contract import Service
from standins.errors import ClientError
from standins.launcher import LocalCluster, wait_until

from .conftest import ClusterFactory


def _add(base: str, ident: str, raft_addr: str) -> httpclient.HttpResult:
    return httpclient.request("POST", base + "/admin/member/add", {"id": ident, "raft_addr": raft_addr}, timeout=15)


def _up(make_cluster: ClusterFactory, *extra: str) -> tuple[LocalCluster, int, list[int]]:
    cluster = make_cluster(Service.CHAINFIRE)
    cluster.bootstrap(3, *extra)
    leader = cluster.wait_leader([1, 2, 3])
    return cluster, leader, [n for n in (1, 2, 3) if n != leader]


def test_add_duplicate_follower_hint_remove(make_cluster: ClusterFactory) -> None:
    cluster, leader, followers = _up(make_cluster)
    lead_url = cluster.addr(leader).api_url
    four = cluster.addr(4)
    cluster.start_node(4)
    wait_until("node04 health", lambda: cluster.health(4), 10)

    added = _add(lead_url, four.id, four.raft_addr)
    assert added.status == 201, added.body
    assert added.body["added"] == {"id": four.id, "raft_addr": four.raft_addr, "api_url": four.api_url}
    assert [m["id"] for m in added.body["members"]] == [f"node0{i}" for i in (1, 2, 3, 4)]

    again = _add(lead_url, four.id, four.raft_addr)
    assert again.status == 409
    assert again.body == {"error": "already a member", "member": added.body["added"]}
    other_addr = _add(lead_url, four.id, "127.0.1.9:1")
    assert other_addr.status == 409 and other_addr.body["member"]["raft_addr"] == four.raft_addr
    taken_addr = _add(lead_url, "node09", four.raft_addr)
    assert taken_addr.status == 409 and taken_addr.body["member"]["id"] == four.id

    hint = _add(cluster.addr(followers[0]).api_url, "node05", cluster.addr(5).raft_addr)
    assert hint.status == 421
    assert hint.body == {"error": "not the leader", "leader_url": lead_url}
    assert hint.header("x-leader-url") == lead_url

    bad = httpclient.request("POST", lead_url + "/admin/member/add", {"id": "x"})
    assert bad.status == 400 and bad.body["error"].startswith("malformed body: raft_addr")
    garbage = httpclient.request("POST", lead_url + "/admin/member/add", "not an object")
    assert garbage.status == 400

    # the added node catches up and follows the leader
    def follows() -> dict[str, object] | None:
        h = cluster.health(4)
        return h if h and h["role"] == "follower" and h["leader"] else None

    assert wait_until("node04 follows", follows, 15)["leader"]["id"] == cluster.addr(leader).id

    gone = httpclient.request("DELETE", lead_url + f"/admin/member/{four.id}", timeout=15)
    assert gone.status == 200
    assert gone.body["removed"]["id"] == four.id
    assert four.id not in [m["id"] for m in gone.body["members"]]
    assert httpclient.request("DELETE", lead_url + f"/admin/member/{four.id}").status == 404
    follower_delete = httpclient.request("DELETE", cluster.addr(followers[0]).api_url + "/admin/member/node02")
    assert follower_delete.status == 421


def test_redirect_knob_answers_307_with_location(make_cluster: ClusterFactory) -> None:
    cluster, leader, followers = _up(make_cluster, "--redirect-to-leader")
    result = _add(cluster.addr(followers[0]).api_url, "node05", cluster.addr(5).raft_addr)
    lead_url = cluster.addr(leader).api_url
    assert result.status == 307
    assert result.header("location") == lead_url + "/admin/member/add"


def test_one_change_at_a_time_503_with_retry_after(make_cluster: ClusterFactory) -> None:
    cluster, leader, _ = _up(make_cluster, "--admin-delay", "1.5")
    lead_url = cluster.addr(leader).api_url
    results: list[httpclient.HttpResult] = []
    slow = threading.Thread(target=lambda: results.append(_add(lead_url, "node04", cluster.addr(4).raft_addr)))

    def lock_held() -> bool | None:
        health = cluster.health(leader)
        return True if health is not None and health["change_in_flight"] is True else None

    slow.start()
    try:
        # The leader holds the change lock for the whole --admin-delay (1.5 s) and says so in
        # /health: once it does, a second add must meet the held lock.
        wait_until("the first add to take the change lock", lock_held, 10, interval=0.02)
        second = _add(lead_url, "node05", cluster.addr(5).raft_addr)
    finally:
        slow.join(20)
    assert not slow.is_alive(), "the first add did not answer within 20 s"
    assert second.status == 503
    assert second.body == {"error": "membership change in flight"}
    assert second.header("retry-after") == "1"
    assert [r.status for r in results] == [201]


def test_injected_admin_failures_then_success(make_cluster: ClusterFactory) -> None:
    cluster, leader, _ = _up(make_cluster, "--admin-fail-status", "500", "--admin-fail-count", "2")
    lead_url = cluster.addr(leader).api_url
    statuses = [_add(lead_url, "node04", cluster.addr(4).raft_addr).status for _ in range(3)]
    # each node counts its own failures; only the leader's are seen here
    assert statuses == [500, 500, 201]


def test_membership_and_data_survive_a_restart(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.FLAREDB)
    cluster.bootstrap(3)
    leader = cluster.wait_leader([1, 2, 3])
    lead_url = cluster.addr(leader).api_url
    cluster.start_node(4)
    wait_until("node04 health", lambda: cluster.health(4), 10)
    assert _add(lead_url, "node04", cluster.addr(4).raft_addr).status == 201
    put = httpclient.request("PUT", lead_url + "/kv/k1", {"value": [1, "two"]}, timeout=10)
    assert put.status == 200
    wait_until(
        "node04 has k1", lambda: httpclient.request("GET", cluster.addr(4).api_url + "/kv/k1").body.get("value"), 10
    )

    for proc in cluster.procs.values():
        proc.stop()
    initial = cluster.initial_cluster(3)
    for n in (1, 2, 3):
        cluster.start_node(n, initial=initial)
    cluster.start_node(4)  # join mode flags again: resumes from its data dir
    # /health answers 200 only once a restarted node has re-applied its journal (503
    # "recovering" before), so the lists read below are settled ones: a member missing
    # from them is lost, not merely late.
    new_leader = cluster.wait_leader([1, 2, 3, 4], timeout=40)
    view = httpclient.request("GET", cluster.addr(new_leader).api_url + "/admin/members")
    assert view.body["change_in_flight"] is False
    assert [m["id"] for m in view.body["members"]] == [f"node0{i}" for i in (1, 2, 3, 4)]
    for n in (1, 2, 3, 4):
        health = wait_until(f"node0{n} back", lambda n=n: cluster.health(n), 10)
        assert [m["id"] for m in health["members"]] == [f"node0{i}" for i in (1, 2, 3, 4)]
        value = wait_until(
            f"k1 on node0{n}",
            lambda n=n: httpclient.request("GET", cluster.addr(n).api_url + "/kv/k1").body.get("value"),
            10,
        )
        assert value == [1, "two"]
    assert cluster.health(4)["role"] in ("leader", "follower")  # type: ignore[index]


def _rewind_commit_index_before_add(data_dir: Path) -> None:
    """Make the journal's saved commit index stop just before the first member add, as a
    node stopped before it learned (or saved; pysyncobj saves it once a second) that
    commit leaves it. The entries themselves stay in the journal."""
    journal = FileJournal(str(data_dir / "raft.journal"))
    try:
        add_idx = next(
            entry[1]
            for entry in (journal[i] for i in range(len(journal)))
            if entry[0][:1] == bytes([_COMMAND_TYPE.MEMBERSHIP])
        )
        journal.setRaftCommitIndex(add_idx - 1)
        journal.onOneSecondTimer()  # stores the meta file now
    finally:
        journal._destroy()


def test_restarted_node_does_not_serve_a_stale_member_list_as_settled(make_cluster: ClusterFactory) -> None:
    cluster, leader, _ = _up(make_cluster)
    four = cluster.addr(4)
    cluster.start_node(4)
    wait_until("node04 health", lambda: cluster.health(4), 10)
    assert _add(cluster.addr(leader).api_url, four.id, four.raft_addr).status == 201
    for proc in cluster.procs.values():
        proc.stop()
    _rewind_commit_index_before_add(cluster.workdir / "node01" / "data")

    # node01 alone: it cannot learn the commit index from a leader, so it must not present
    # the member list it started from (peers.json: node01-03) as settled.
    cluster.start_node(1, initial=cluster.initial_cluster(3))
    url = cluster.addr(1).api_url

    def answer() -> httpclient.HttpResult | None:
        try:
            return httpclient.request("GET", url + "/health", timeout=2.0)
        except ClientError:
            return None

    health = wait_until("node01 answers /health", answer, 10)
    assert health.status == 503, health.body
    assert health.body == {"status": "recovering"}
    assert health.header("retry-after") == "1"
    members = httpclient.request("GET", url + "/admin/members", timeout=2.0)
    assert members.status == 200
    assert members.body["change_in_flight"] is True
    assert members.body["has_quorum"] is False

    # Once the others are back, node01 re-learns the commit and applies the add.
    for n in (2, 3):
        cluster.start_node(n, initial=cluster.initial_cluster(3))
    cluster.start_node(4)

    def four_members() -> list[str] | None:
        h = cluster.health(1)
        ids = None if h is None else [m["id"] for m in h["members"]]
        return ids if ids is not None and len(ids) == 4 else None

    assert wait_until("node01 recovered", four_members, 20) == [f"node0{i}" for i in (1, 2, 3, 4)]
    settled = httpclient.request("GET", url + "/admin/members", timeout=2.0)
    assert settled.body["change_in_flight"] is False
