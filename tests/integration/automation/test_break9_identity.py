"""Break 9: a peer's identity judged by how the connection reaches it, not by how a URL is spelt
(docs/failure-kinds.md, "Found by a fourth tester"). Fake peers on loopback; each test failed
before its fix."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity, foreign_name, render_marker

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import INITIALIZED, JOINED, markers_in
from .fakes import Answer
from .fakes_join import own_health

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")


def respelt(url: str, host: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{host}:{parts.port}"


# The leader is asked as http://127.0.0.1:P and names itself under another spelling of that host
# (`inet_aton` forms, as `getaddrinfo` reads them; a name's case).
SPELLINGS = ["127.1", "127.000.000.001", "2130706433"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_leader_naming_itself_in_another_spelling_takes_the_add(fba: Fba, node: Node, spelling: str) -> None:
    """Finding 4: taken for a hint loop (`vm` -> `VM`), the join sent no add and used up its
    attempts against a healthy leader."""
    leader = node.leader()
    node.clusters["chainfire"].set_leader(respelt(leader.url, spelling))
    fba.write_config(node.config(join={"deadline_s": 8}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert not result.with_message("Leader hints go round in a loop", "WARN"), result.describe()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_leave_confirmed_by_a_leader_naming_itself_in_another_spelling(fba: Fba, node: Node, spelling: str) -> None:
    """Finding 4, leave: the DELETE was taken, then every read of the leader's list was refused
    as a follower's ("names leader ..., which cannot be asked"): exit 1 and the marker kept for
    a node that was no longer a member."""
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 8}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    assert markers_in(fba.state_dir) == [JOINED]
    node.clusters["chainfire"].set_leader(respelt(leader.url, spelling))

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.OK, result.describe()
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == []


def test_a_node_whose_own_service_formed_its_own_cluster_is_not_added(fba: Fba, node: Node) -> None:
    """Finding 2: this node's chainfire was started as a bootstrap node (a one-node cluster of
    its own, its own leader). The join added it to the real cluster (a member that never takes
    part) and wrote the marker, exit 0. Now: no add, exit 3, the cause named."""
    leader = node.leader()
    node.chainfire.script("GET", "/health", own_health(node, NODE_ID, "leader"), repeat_last=True)
    fba.write_config(node.config(join={"deadline_s": 8}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert cause(result.last) == "own service in another cluster", result.last
    assert leader.requests_to("POST", "/admin/member/add") == []
    assert markers_in(fba.state_dir) == []
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert node.chainfire.admin_requests() == []  # our own API is never asked for /admin/*


def test_a_node_whose_own_service_follows_the_cluster_is_added(fba: Fba, node: Node) -> None:
    """The veto's other side: a local service that already follows the real cluster's leader
    (a join re-run after its add, say) or names no leader (joining) is no reason to refuse."""
    leader = node.leader()
    leader_id = node.clusters["chainfire"].leader_id
    node.chainfire.script("GET", "/health", own_health(node, leader_id, "follower"), repeat_last=True)
    fba.write_config(node.config(join={"deadline_s": 8}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1


def test_the_join_deadline_counts_the_health_wait(fba: Fba, node: Node) -> None:
    """Finding 8: `--deadline` is "overall budget for the join", but the local health wait had
    its own and the join a fresh one after it: `--deadline 6` ran 11.5 s and said "in 6.0s"."""
    leader = node.leader()
    node.clusters["chainfire"].change_in_flight = True  # the join can only wait out its deadline
    starting = Answer(503, {"status": "starting"}, headers={"Retry-After": "1"})
    node.chainfire.script("GET", "/health", *[starting] * 3)  # ~3 s of health wait, then healthy
    fba.write_config(node.config(health={"timeout_s": 60}))

    result = fba.run(*JOIN, "--deadline", "6")

    assert result.rc == ExitCode.FAILED, result.describe()
    health = [r.at for r in node.chainfire.requests_to("GET", "/health")]
    assert health[-1] - health[0] > 2.0, health  # the health wait did take seconds of the deadline
    # Measured by the peers' clocks from the first health request, so a loaded host's slow
    # Python start does not count: the join's last request falls within the one deadline
    # (before: the health wait, ~3 s, and then 6 s more).
    last = max(r.at for r in leader.requests_to("GET", "/admin/members"))
    assert last - health[0] < 6 + 1.0, (last - health[0], result.describe())


@pytest.mark.parametrize("status", [404, 403, 405])
def test_one_candidates_never_on_the_member_list_does_not_end_the_join(
    fba: Fba, node: Node, servers: Servers, status: int
) -> None:
    """Finding 17: the configured leader down, the next candidate answering its member list
    with a 4xx (an older build, an auth proxy): the join ended "rejected" at once, on every
    restart, and the healthy leader (the third candidate) was never asked."""
    leader = node.leader()
    odd = servers.start("odd")
    odd.script("GET", "/admin/members", Answer(status, {"error": "no"}), repeat_last=True)
    services = {"chainfire": {"leader_url": "http://127.0.0.1:1"}}
    fba.write_config(node.config(leader_url="http://127.0.0.1:1", services=services,
                                 discovery={"peer_urls": [odd.url, leader.url]}, join={"deadline_s": 8}))  # fmt: skip

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert odd.requests_to("POST", "/admin/member/add") == []


def test_a_cloned_bootstrap_marker_is_neither_re_stamped_nor_shown(fba: Fba, node: Node) -> None:
    """Finding 10: a joiner cloned from node01's disk carries node01's `initialized` marker. The
    join (rightly) did not trust it and wrote `joined`; the next boot verified the clone's
    marker into one of ours (node04, node01's date) and `status` showed it."""
    node.leader()
    fba.write_config(node.config(join={"deadline_s": 8}))
    fba.state_dir.mkdir(mode=0o700, exist_ok=True)
    clone = render_marker("2026-11-01T10:00:00+00:00", MarkerIdentity("node01", "c1", "10.0.0.1:2380"))
    (fba.state_dir / INITIALIZED).write_text(clone)
    (fba.state_dir / INITIALIZED).chmod(0o600)

    first, second = fba.run(*JOIN), fba.run(*JOIN)

    assert first.rc == ExitCode.OK, first.describe()
    assert second.rc == ExitCode.ALREADY_DONE, second.describe()
    # The clone's marker, as it was, set aside: the leader refuted it (break 10, G5).
    assert (fba.state_dir / foreign_name(INITIALIZED)).read_text() == clone
    assert not (fba.state_dir / INITIALIZED).exists()
    status = fba.run("status", "--format", "json")
    step = next(s for s in json.loads(status.stdout)["steps"] if s["unit"] == "chainfire-cluster-join.service")
    assert step["marker"] == JOINED, step


def test_a_stale_leaders_list_is_not_believed_over_a_later_terms(fba: Fba, node: Node, servers: Servers) -> None:
    """Finding 20: the configured leader was cut off; it still names itself leader in term 3
    and lists this node from before its removal. The join believed it (exit 2, a marker) and
    asked nobody else; the leader of term 9 does not list this node. Now the later term wins:
    the add goes to it."""
    leader = node.leader()
    node.clusters["chainfire"].term = 9
    stale = servers.start("stale")
    me = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    old = {"service": "chainfire", "members": [me], "leader": {"id": "stale", "api_url": stale.url},
           "term": 3, "has_quorum": True, "change_in_flight": False}  # fmt: skip
    stale.script("GET", "/admin/members", Answer(200, old), repeat_last=True)
    services = {"chainfire": {"leader_url": stale.url}}
    fba.write_config(node.config(leader_url=stale.url, services=services, discovery={"peer_urls": [leader.url]},
                                 join={"deadline_s": 8}))  # fmt: skip

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert NODE_ID in node.clusters["chainfire"].member_ids()


def test_a_leaders_list_confirmed_by_a_witness_of_the_same_term_stands(fba: Fba, node: Node, servers: Servers) -> None:
    """The other side of finding 20: a witness that knows no later term leaves the proof as it
    was (exit 2, no add), and one unreachable witness is no reason to doubt it."""
    leader = node.leader()
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    follower = servers.start("follower")
    follower.script("GET", "/admin/members", Answer(200, node.clusters["chainfire"].view()), repeat_last=True)
    services = {"chainfire": {"leader_url": leader.url}}
    fba.write_config(node.config(leader_url=leader.url, services=services,
                                 discovery={"peer_urls": ["http://127.0.0.1:1", follower.url]},
                                 join={"deadline_s": 8}))  # fmt: skip

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert leader.requests_to("POST", "/admin/member/add") == []
    assert len(follower.requests_to("GET", "/admin/members")) == 1
