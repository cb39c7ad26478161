"""Break 8: `fba join`/`leave` while the leader moves, pauses or dies (docs/failure-kinds.md,
"Found by a third tester"). Fake peers on loopback; each test failed before its fix."""

from __future__ import annotations

from typing import Any

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import JOINED, markers_in
from .fakes import Answer

JOIN = ("join", "--service", "chainfire")
ME = {"id": NODE_ID, "raft_addr": RAFT_ADDR}


def posts(*servers: Any) -> list[Any]:
    return [r for s in servers for r in s.requests_to("POST", "/admin/member/add")]


def _config(node: Node, first: str, *others: str, **join: Any) -> dict[str, Any]:
    services = {"chainfire": {"leader_url": first}}
    return node.config(leader_url=first, services=services, discovery={"peer_urls": list(others)},
                       join={"deadline_s": 8, **join})  # fmt: skip


def test_a_follower_that_names_no_leader_is_no_proof_of_a_join(fba: Fba, node: Node, servers: Servers) -> None:
    """Finding 1: a stale follower lists us (an add the leader never committed) and names no
    leader: null, absent, or a bare id with no api_url. It wrote the marker; the leader, which
    does not list us, was never asked. Now the leader is found and takes the add."""
    leader = node.leader()
    forms: list[dict[str, Any]] = [
        {"members": [ME], "leader": None, "has_quorum": True},
        {"members": [ME]},
        {"members": [ME], "leader": "node03", "has_quorum": True},
    ]
    for form in forms:
        stale = servers.start(f"stale{len(posts(leader))}")
        stale.script("GET", "/admin/members", Answer(200, form), repeat_last=True)
        stale.script("POST", "/admin/member/add", Answer(503, {"error": "busy"}), repeat_last=True)
        fba.write_config(_config(node, stale.url, leader.url))
        for marker in markers_in(fba.state_dir):
            (fba.state_dir / marker).unlink()
        node.clusters["chainfire"].remove(NODE_ID)

        result = fba.run(*JOIN)

        assert result.rc == ExitCode.OK, (form, result.describe())
        assert len(leader.requests_to("GET", "/admin/members")) >= 1, form
        assert posts(stale) == [], form
        assert result.with_message("lists this node but names no leader", "WARN"), result.describe()
    assert len(posts(leader)) == len(forms)


def test_a_leader_named_by_id_is_asked_at_its_entrys_api_url(fba: Fba, node: Node, servers: Servers) -> None:
    leader = node.leader()
    follower = servers.start("follower")
    view = node.clusters["chainfire"].view()
    entry = {"id": "node01", "raft_addr": "127.0.0.1:1", "api_url": leader.url}
    follower.script("GET", "/admin/members", Answer(200, {**view, "members": [*view["members"], entry],
                                                           "leader": "node01"}), repeat_last=True)  # fmt: skip
    fba.write_config(_config(node, follower.url))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert posts(follower) == [] and len(posts(leader)) == 1


def test_two_peers_naming_each_other_do_not_lock_out_the_leader(fba: Fba, node: Node, servers: Servers) -> None:
    """Finding 2: A names B, B names A; the leader C (a discovery peer) was never asked and the
    join used up its attempts in the loop."""
    leader = node.leader()
    a, b = servers.start("a"), servers.start("b")
    for me, other in ((a, b), (b, a)):
        listed = {"members": [], "leader": {"id": other.name, "api_url": other.url}, "has_quorum": True}
        me.script("GET", "/admin/members", Answer(200, listed), repeat_last=True)
    fba.write_config(_config(node, a.url, b.url, leader.url, max_attempts=5))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(posts(leader)) == 1 and posts(a, b) == []
    assert result.with_message("Leader hints go round in a loop; trying the other candidates", "WARN")
    assert len(a.requests) + len(b.requests) <= 6, (len(a.requests), len(b.requests))


def test_a_leader_stepping_down_on_the_add_does_not_hold_the_join(fba: Fba, node: Node, servers: Servers) -> None:
    """Finding 5: the add answered 503 "no leader" with Retry-After 600: the join ended at once
    ("beyond the deadline"), or with 30 it waited 30 s, while the new leader was up. That
    Retry-After now holds only that peer."""
    leader = node.leader()
    old = servers.start("old")
    view = {"members": [], "leader": {"id": "old", "api_url": old.url}, "has_quorum": True}
    old.script("GET", "/admin/members", Answer(200, view), repeat_last=True)
    old.script("POST", "/admin/member/add", Answer(503, {"error": "no leader"}, headers={"Retry-After": "600"}))
    fba.write_config(_config(node, old.url, leader.url))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(posts(old)) == 1 and len(posts(leader)) == 1
    assert result.elapsed_s < 6, result.describe()
    assert all(r.at - old.requests[0].at < 1.0 for r in old.requests[:2]), "old was asked again within its Retry-After"


def test_retry_after_of_a_leaderless_member_list_holds_that_peer(fba: Fba, node: Node, servers: Servers) -> None:
    """Finding 7: a 503 "no leader" with Retry-After 3 on the list was asked again after 1 s."""
    leader = node.leader()
    busy = servers.start("busy")
    busy.script("GET", "/admin/members", Answer(503, {"error": "no leader"}, headers={"Retry-After": "3"}),
                repeat_last=True)  # fmt: skip
    leader.script("GET", "/admin/members", *[Answer(503, {"error": "no leader"})] * 6)  # an election, then a leader
    fba.write_config(_config(node, busy.url, leader.url, retry_delay_s=0.2, max_retry_delay_s=0.4))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    times = [r.at for r in busy.requests_to("GET", "/admin/members")]
    assert all(later - earlier >= 2.9 for earlier, later in zip(times, times[1:], strict=False)), times


def test_an_accepted_add_is_read_back_within_the_deadline_not_the_attempts(
    fba: Fba, node: Node, servers: Servers
) -> None:
    """Finding 8: the leader took the add (201) and then hung; its GETs used up the attempts and
    the join failed "headers timed out" for a node that was a member."""
    leader = node.leader()
    calls: list[int] = []
    original = leader.answer

    def answer(method: str, path: str, query: Any, body: Any, headers: Any) -> Answer:
        if method == "GET" and path == "/admin/members" and posts(leader):
            calls.append(1)
            if len(calls) <= 4:
                return Answer(503, {"error": "busy"}, delay_s=1.5)  # past the 1 s request timeout: no answer
        return original(method, path, query, body, headers)

    leader.answer = answer  # type: ignore[method-assign]
    fba.write_config(_config(node, leader.url, max_attempts=2, request_timeout_s=1, deadline_s=20))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(posts(leader)) == 1
    assert JOINED in markers_in(fba.state_dir)
    assert cause(result.last) != "headers timed out"


def test_a_node_that_became_the_leader_after_its_add_is_joined(fba: Fba, node: Node, servers: Servers) -> None:
    """CI, S6: the leader that took node04's add crashed and node04 won the next election; every
    follower named node04's own API as the leader, which the join refused, so it ran to its
    deadline on every start. A peer's settled list that lists us and names us as the leader is
    the proof; our own API is still never asked."""
    follower = servers.start("follower")
    leads = {"members": [ME, {"id": "node01", "raft_addr": "127.0.0.9:2380"}], "has_quorum": True,
             "change_in_flight": False, "leader": {"id": NODE_ID, "api_url": node.chainfire.url}}  # fmt: skip
    follower.script("GET", "/admin/members", Answer(200, leads), repeat_last=True)
    fba.write_config(_config(node, follower.url))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()  # no add of ours in this run
    assert result.with_message("This node is the leader now, as the list of a peer says", "INFO")
    assert node.chainfire.requests_to("GET", "/admin/members") == []
    assert JOINED in markers_in(fba.state_dir)


def test_a_peer_naming_us_leader_without_listing_us_settled_proves_nothing(
    fba: Fba, node: Node, servers: Servers
) -> None:
    follower = servers.start("follower")
    claim = {"members": [{"id": "node01", "raft_addr": "127.0.0.9:2380"}], "has_quorum": True,
             "leader": {"id": NODE_ID, "api_url": node.chainfire.url}}  # fmt: skip
    follower.script("GET", "/admin/members", Answer(200, claim), repeat_last=True)
    fba.write_config(_config(node, follower.url, deadline_s=2))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert markers_in(fba.state_dir) == [] and posts(follower) == []
    assert node.chainfire.requests_to("GET", "/admin/members") == []
