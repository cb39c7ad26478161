"""`fba join` against fake leaders on loopback: bootstrap, join, idempotency, retries,
named causes, leader discovery."""

from __future__ import annotations

import os

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers, cause, collect
from .expect import INITIALIZED, JOINED, assert_marker, markers_in
from .fakes import Answer, error, free_port

JOIN = ("join", "--service", "chainfire")


def test_bootstrap_node_writes_initialized_marker_and_never_calls_admin(fba: Fba, node: Node) -> None:
    """Its peers may be asked for their member list (a cluster that does not list this node
    vetoes a second bootstrap, break 10 G8); nothing is added anywhere, its own API is never
    asked for `/admin/*`."""
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)  # the cluster it forms
    leader = node.leader()
    fba.write_config(node.config(bootstrap=True, initial_peers=[RAFT_ADDR, "127.0.0.2:2380", "127.0.0.3:2380"]))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(INITIALIZED))
    assert markers_in(fba.state_dir) == [INITIALIZED]
    assert all((r.method, r.path) == ("GET", "/admin/members") for r in leader.requests)
    assert node.chainfire.admin_requests() == []
    assert [r.path for r in node.chainfire.requests] and all(r.path == "/health" for r in node.chainfire.requests)


def test_join_201_writes_joined_marker_after_one_add(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(JOINED))
    adds = leader.requests_to("POST", "/admin/member/add")
    assert len(adds) == 1
    body = adds[0].body
    assert isinstance(body, dict)
    assert body["id"] == NODE_ID and body["raft_addr"] == RAFT_ADDR
    assert set(body) <= {"id", "raft_addr", "api_url"}
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1
    assert result.with_message("Successfully joined cluster", "INFO")
    for line in result.lines:
        assert {"timestamp", "level", "message"} <= set(line)


def test_rerun_with_marker_present_exits_2_without_any_request(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    assert fba.run(*JOIN).rc == ExitCode.OK
    leader.clear()
    node.chainfire.clear()

    again = fba.run(*JOIN)

    assert again.rc == ExitCode.ALREADY_DONE, again.describe()
    assert leader.requests == [] and node.chainfire.requests == []
    assert again.with_message("already member")


def test_409_is_already_member_and_marker_written_after_list_confirms(fba: Fba, node: Node) -> None:
    leader = node.leader()
    member = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": node.chainfire.url}
    listed = node.clusters["chainfire"].view()
    leader.script(
        "GET",
        "/admin/members",
        Answer(200, listed),  # not listed yet (a lagging read)
        Answer(200, {**listed, "members": [*listed["members"], member]}),
        repeat_last=True,
    )
    leader.script("POST", "/admin/member/add", Answer(409, {"error": "already a member", "member": member}))
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert result.with_message("Node already member of cluster (HTTP 409)", "WARN")
    assert_marker(fba.marker(JOINED))
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    # the marker was written only after a member list that shows us
    assert len(leader.requests_to("GET", "/admin/members")) >= 2


def test_already_listed_before_add_exits_2_without_post(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert leader.requests_to("POST", "/admin/member/add") == []
    assert_marker(fba.marker(JOINED))


def test_same_id_other_raft_addr_is_a_named_conflict(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].add_member(NODE_ID, "127.0.0.1:2999")
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "127.0.0.1:2999" in result.last["message"] and RAFT_ADDR in result.last["message"]
    assert result.last["level"] == "ERROR"
    assert leader.requests_to("POST", "/admin/member/add") == []
    assert markers_in(fba.state_dir) == []


def test_500_500_201_joins_after_retries(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.script("POST", "/admin/member/add", error(500, "boom"), error(500, "boom"))  # then the real add
    fba.write_config(node.config(join={"max_attempts": 5}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 3
    failed = result.with_message("Join request failed: HTTP 500", "ERROR")
    assert [line["context"]["attempt"] for line in failed] == [1, 2]
    assert_marker(fba.marker(JOINED))
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1


def test_leader_unreachable_ends_with_connection_refused(fba: Fba, node: Node) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    fba.write_config(
        node.config(leader_url=closed, services={"chainfire": {"leader_url": closed}}, join={"max_attempts": 3})
    )

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    errors = result.with_message("Join request failed: connection error", "ERROR")
    assert len(errors) == 3
    assert result.last["level"] == "ERROR"
    assert cause(result.last) == "connection refused"
    assert markers_in(fba.state_dir) == []


def test_slow_leader_ends_with_timed_out(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.delay("GET", "/admin/members", 2.0)
    fba.write_config(node.config(join={"max_attempts": 2, "request_timeout_s": 0.3}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "headers timed out"  # the phase that ran out of time
    assert markers_in(fba.state_dir) == []
    assert result.elapsed_s < 10


def test_follower_421_hint_leads_to_the_leader(fba: Fba, node: Node, servers: Servers) -> None:
    leader = node.leader()
    follower = servers.start("follower", cluster=node.clusters["chainfire"], role="follower", follower_lists=False)
    fba.write_config(node.config(leader_url=follower.url, services={"chainfire": {"leader_url": follower.url}}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert all(r.status == 421 for r in follower.admin_requests()) and follower.admin_requests()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1
    assert_marker(fba.marker(JOINED))


def test_follower_421_on_add_only(fba: Fba, node: Node, servers: Servers) -> None:
    """A follower that serves the list itself but names no leader in it: the add's 421 does."""
    leader = node.leader()
    follower = servers.start("follower", cluster=node.clusters["chainfire"], role="follower")
    view = node.clusters["chainfire"].view()
    follower.script("GET", "/admin/members", Answer(200, {**view, "leader": None}), repeat_last=True)
    fba.write_config(node.config(leader_url=follower.url, services={"chainfire": {"leader_url": follower.url}}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in follower.requests_to("POST", "/admin/member/add")] == [421]
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1


def test_follower_307_redirect_leads_to_the_leader(fba: Fba, node: Node, servers: Servers) -> None:
    leader = node.leader()
    follower = servers.start(
        "follower", cluster=node.clusters["chainfire"], role="follower", follower_answer=307, follower_lists=False
    )
    fba.write_config(node.config(leader_url=follower.url, services={"chainfire": {"leader_url": follower.url}}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert follower.admin_requests() and all(r.status == 307 for r in follower.admin_requests())
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert_marker(fba.marker(JOINED))


def test_busy_503_retry_after_does_not_use_up_attempts(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].busy_answers = 12  # many more 503s than attempts
    node.clusters["chainfire"].retry_after = "0"
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    statuses = [r.status for r in leader.requests_to("POST", "/admin/member/add")]
    assert statuses == [503] * 12 + [201]
    assert_marker(fba.marker(JOINED))


def test_busy_503_honours_retry_after(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].busy_answers = 1
    node.clusters["chainfire"].retry_after = "1"
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    posts = leader.requests_to("POST", "/admin/member/add")
    assert [r.status for r in posts] == [503, 201]
    assert posts[1].at - posts[0].at >= 0.9  # waited as told, not the 50 ms backoff


def test_busy_for_a_while_then_201(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].busy_for_s = 1.0  # about 20 answers of 503 at fba's 50 ms backoff
    node.clusters["chainfire"].retry_after = "0"
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in leader.requests_to("POST", "/admin/member/add")][-1] == 201


def test_leader_down_peer_from_initial_peers_is_leader(fba: Fba, node: Node) -> None:
    peer = node.peer("chainfire", cluster=node.clusters["chainfire"])  # the leader now lives on the peer
    node.clusters["chainfire"].set_leader(peer.url)
    closed = f"http://127.0.0.1:{free_port()}"
    fba.write_config(
        node.config(
            leader_url=closed,
            services={"chainfire": {"leader_url": closed}},
            initial_peers=["127.0.0.2:2380"],
            join={"max_attempts": 3},
        )
    )

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert result.with_message("Join request failed: connection error")
    assert len(peer.requests_to("POST", "/admin/member/add")) == 1
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1


def test_ten_replays_leave_one_member(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    codes = []
    for i in range(10):
        if i % 2 == 1:
            os.unlink(fba.marker(JOINED))  # a lost marker (reinstalled disk): the list decides
        codes.append(fba.run(*JOIN).rc)

    assert codes[0] == ExitCode.OK
    assert set(codes[1:]) == {ExitCode.ALREADY_DONE}
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1
    assert len(node.clusters["chainfire"].member_ids()) == 2
    assert [r.status for r in leader.requests_to("POST", "/admin/member/add")] == [201]


def test_two_nodes_join_concurrently_without_duplicates(fba: Fba, node: Node, tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    leader = node.leader()
    node.clusters["chainfire"].add_hold_s = 0.3  # a slow commit: the other add sees "in flight"
    other = Fba(Path(tmp_path) / "node05")
    Path(other.root).mkdir()
    fba.write_config(node.config())
    other.write_config(node.config(node_id="node05", raft_addr="127.0.0.1:2381", join={"max_attempts": 5}))

    procs = [fba.start(*JOIN), other.start(*JOIN)]
    results = [collect(p) for p in procs]

    for result in results:
        assert result.rc == ExitCode.OK, result.describe()
    ids = node.clusters["chainfire"].member_ids()
    assert sorted(ids) == sorted(["leader0", NODE_ID, "node05"])
    assert node.clusters["chainfire"].added == [i for i in node.clusters["chainfire"].added if i in (NODE_ID, "node05")]
    assert sorted(node.clusters["chainfire"].added) == [NODE_ID, "node05"]
    assert_marker(fba.marker(JOINED))
    assert_marker(other.marker(JOINED))
    assert leader.requests_to("POST", "/admin/member/add")
