"""Break 12, K11: a member list is evidence about this node's cluster only if it is that
cluster's. By its `cluster` (the contract's, our `cluster_name`) when it names one; else it must
share a member with the lists of ours read in the run, or, before any, with the configured
peers or leader. Terms are compared only within one cluster (`TermFloor.highest(like=...)`)."""

from __future__ import annotations

import io
import json
from typing import Any

from automation.configfile import parse
from automation.discovery import LeaderFinder, TermFloor, foreign_list, newer_leader
from automation.http import Response
from automation.log import Logger
from automation.membership import MemberView, parse_view
from automation.policy import Deadline
from automation.spec.markers import Service

LEADER = "http://10.0.0.1:2379"
FOREIGN = "http://10.9.0.2:2379"


def config(**extra: Any) -> Any:
    data = {
        "node_id": "node04",
        "node_role": "worker",
        "bootstrap": False,
        "cluster_name": "c1",
        "leader_url": LEADER,
        "raft_addr": "10.0.0.4:2380",
        "initial_peers": ["node01=10.0.0.1:2380", "node02=10.0.0.2:2380", "node03=10.0.0.3:2380"],
        "discovery": {"peer_urls": [FOREIGN]},
    }
    data.update(extra)
    return parse(json.dumps(data).encode())


def member(member_id: str, host: str) -> dict[str, str]:
    return {"id": member_id, "raft_addr": f"{host}:2380", "api_url": f"http://{host}:2379"}


def body(members: list[dict[str, str]], term: int, **extra: Any) -> dict[str, Any]:
    leader = members[0]
    return {"service": "chainfire", "members": members, "leader": {"id": leader["id"], "api_url": leader["api_url"]},
            "term": term, "has_quorum": True, "change_in_flight": False, **extra}  # fmt: skip


def view(members: list[dict[str, str]], term: int = 9, **extra: Any) -> MemberView:
    found = parse_view(Response(200, {}, json.dumps(body(members, term, **extra)).encode(), "x"))
    assert found is not None
    return found


OURS = [member("node01", "10.0.0.1"), member("node03", "10.0.0.3")]
THEIRS = [member("x21", "10.9.0.2"), member("x22", "10.9.0.3")]
EX = [member("node02", "10.0.0.2")]  # a removed ex-member leading a cluster of its own


def test_a_list_that_names_another_cluster_is_foreign_whatever_its_members() -> None:
    found = foreign_list(config(), Service.CHAINFIRE, view(OURS, cluster="c2"), TermFloor(), LEADER)
    assert found is not None and "cluster 'c2', not 'c1'" in found
    assert foreign_list(config(), Service.CHAINFIRE, view(THEIRS, cluster="c1"), TermFloor(), FOREIGN) is None


def test_an_unnamed_list_sharing_nothing_with_the_configuration_is_another_clusters() -> None:
    """Our leader down: the discovery peer's list (another cluster, term 5000) was added to."""
    found = foreign_list(config(), Service.CHAINFIRE, view(THEIRS, 5000), TermFloor(), FOREIGN)
    assert found is not None and "another cluster's list" in found
    assert foreign_list(config(), Service.CHAINFIRE, view(OURS), TermFloor(), "http://10.0.0.3:2379") is None
    # The configured leader's own answer is ours by the operator's word; a list of only us tells nothing.
    assert foreign_list(config(), Service.CHAINFIRE, view(THEIRS), TermFloor(), LEADER) is None
    assert foreign_list(config(), Service.CHAINFIRE, view([member("node04", "10.0.0.4")]), TermFloor(), FOREIGN) is None


def test_once_our_list_was_read_a_list_sharing_no_member_with_it_is_another_clusters() -> None:
    """The ex-member node02 is a configured peer, but its cluster of its own shares no member
    with the list our leader gave in this run."""
    floor = TermFloor()
    floor.saw(Service.CHAINFIRE, view(OURS), LEADER)
    found = foreign_list(config(), Service.CHAINFIRE, view(EX, 50), floor, "http://10.0.0.2:2379")
    assert found is not None and "['node02']" in found
    moved = [member("node03", "10.0.0.3"), member("node05", "10.0.0.5")]  # a failover: node03 leads
    assert foreign_list(config(), Service.CHAINFIRE, view(moved, 10), floor, "http://10.0.0.3:2379") is None


def test_terms_are_compared_only_within_one_cluster() -> None:
    floor = TermFloor()
    floor.saw(Service.CHAINFIRE, view(THEIRS, 5000), FOREIGN)
    assert floor.highest(Service.CHAINFIRE, like=view(OURS)) is None
    seen = floor.highest(Service.CHAINFIRE, like=view(THEIRS))
    assert seen is not None and seen.term == 5000


class Peers:
    """`GET /admin/members` answered from a table by URL; records who was asked."""

    def __init__(self, lists: dict[str, dict[str, Any]]) -> None:
        self.lists = lists
        self.asked: list[str] = []

    def request(self, method: str, url: str, **_: Any) -> Response:
        base = url.removesuffix("/admin/members")
        self.asked.append(base)
        return Response(200, {}, json.dumps(self.lists[base]).encode(), url)


def test_another_clusters_later_term_does_not_make_our_leaders_list_stale() -> None:
    """Both up: our leader (term 9) listed us after the add; the discovery peer's cluster is in
    term 5000. Its term must not send a second add there."""
    cfg = config(initial_peers=["node01=10.0.0.1:2380"])
    finder = LeaderFinder(cfg, Service.CHAINFIRE, Logger(stream=io.StringIO()))
    peers = Peers({FOREIGN: body(THEIRS, 5000)})
    ours = view([*OURS, member("node04", "10.0.0.4")])
    assert newer_leader(peers, finder, LEADER, ours, Deadline.start(5.0), 1.0) is None  # type: ignore[arg-type]
    assert peers.asked == [FOREIGN]
    seen = finder.terms.highest(Service.CHAINFIRE)
    assert seen is not None and seen.term == 9


def test_a_list_that_does_not_say_quorum_or_in_flight_proves_nothing() -> None:
    """Break 12, K9: `has_quorum`/`change_in_flight` absent or null is unknown, not yes (the
    contract requires both); `committed: true` still proves on its own."""
    from automation.membership import Proof, judge

    me = member("node04", "10.0.0.4")
    for missing in ("has_quorum", "change_in_flight"):
        for value in ("absent", None):
            raw = body([*OURS, me], 9)
            if value == "absent":
                del raw[missing]
            else:
                raw[missing] = None
            found = parse_view(Response(200, {}, json.dumps(raw).encode(), "x"))
            assert found is not None
            judged = judge(found, "node04", "10.0.0.4:2380")
            assert judged.verdict is Proof.PENDING and "does not say" in judged.detail, (missing, value)
    raw = body([*OURS, me], 9, committed=True)
    del raw["has_quorum"], raw["change_in_flight"]
    found = parse_view(Response(200, {}, json.dumps(raw).encode(), "x"))
    assert found is not None and judge(found, "node04", "10.0.0.4:2380").verdict is Proof.PROVEN
