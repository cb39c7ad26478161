"""A Raft stand-in on a slow host: stalls of a second and a half (a starved emulated CPU)
must not start elections with the `slow` profile the harness uses under TCG.

Seen in the leader-faults lab under load: after node03's partition healed, flaredb's terms
rose for minutes with no leader; each stall longer than the default 0.4-1.4 s election
timeout starts an election. Here every node is SIGSTOPped in turn, as a busy host does to
its guests, while a node that was absent catches up.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from standins import httpclient
from standins.contract import Service
from standins.launcher import LocalCluster, wait_until

from .conftest import ClusterFactory

STALL_S = 1.5  # longer than the default profile's 1.4 s election timeout
ROUNDS = 3


def view(cluster: LocalCluster, n: int) -> dict[str, Any] | None:
    try:
        result = httpclient.request("GET", cluster.addr(n).api_url + "/admin/members", timeout=2.0)
    except Exception:  # a node that does not answer has no view
        return None
    return result.body if result.status == 200 and isinstance(result.body, dict) else None


def agreed_term(cluster: LocalCluster) -> tuple[str, int] | None:
    views = [view(cluster, n) for n in (1, 2, 3)]
    if any(v is None or v.get("leader") is None for v in views):
        return None
    seen = {(v["leader"]["id"], v["term"]) for v in views if v is not None}
    return seen.pop() if len(seen) == 1 else None


def test_slow_profile_rides_out_stalls_while_a_late_member_catches_up(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.FLAREDB, 3, extra_args=["--raft-profile", "slow"])
    initial = cluster.initial_cluster(3)
    cluster.start_node(1, initial=initial)
    cluster.start_node(2, initial=initial)  # node03 is cut off (not started) while they form
    cluster.wait_leader([1, 2], timeout=60)
    for i in range(20):
        wait_until(f"write k{i}", lambda i=i: _put(cluster, i), 20, interval=0.2)
    cluster.start_node(3, initial=initial)  # the heal: node03 catches up from an empty log
    before = wait_until("all three agree on a leader", lambda: agreed_term(cluster), 60, interval=0.2)
    pids = {n: cluster.procs[cluster.addr(n).id].proc.pid for n in (1, 2, 3)}  # type: ignore[union-attr]
    try:
        for _ in range(ROUNDS):
            for n in (1, 2, 3):
                os.kill(pids[n], signal.SIGSTOP)
                time.sleep(STALL_S)  # the stall itself is what is tested, not a synchronisation
                os.kill(pids[n], signal.SIGCONT)
    finally:
        for pid in pids.values():
            os.kill(pid, signal.SIGCONT)
    after = wait_until("all three agree on a leader again", lambda: agreed_term(cluster), 30, interval=0.2)
    assert after == before, f"stalls of {STALL_S} s started elections: leader/term {before} -> {after}"


def _put(cluster: LocalCluster, i: int) -> bool | None:
    for n in (1, 2):
        try:
            result = httpclient.request("PUT", cluster.addr(n).api_url + f"/kv/k{i}", {"value": "x" * 200},
                                        timeout=5.0)  # fmt: skip
        except Exception:  # not the leader's turn yet: try the other node
            continue
        if result.status in (200, 201, 204):
            return True
    return None
