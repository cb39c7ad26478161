"""`fba join` edge cases: quorum waits, lost answers, corrupt or hand-written markers, flaredb,
hint loops, fixed retry mode, environment variables instead of flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity

from .conftest import FBA, NODE_ID, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import FLAREDB_JOINED, JOINED, assert_marker, markers_in
from .fakes import Answer, error

JOIN = ("join", "--service", "chainfire")
IDENTITY = MarkerIdentity(NODE_ID, "testcluster", RAFT_ADDR)


def test_no_quorum_for_a_while_then_joins(fba: Fba, node: Node) -> None:
    leader = node.leader()
    view = node.clusters["chainfire"].view()
    no_quorum = Answer(200, {**view, "has_quorum": False})
    leader.script("GET", "/admin/members", *[no_quorum] * 12)  # then the real list
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert result.with_message("no quorum", "WARN")
    assert [r.status for r in leader.requests_to("POST", "/admin/member/add")] == [201]


def test_no_quorum_forever_ends_by_the_deadline_naming_it(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].has_quorum = False
    fba.write_config(node.config(join={"max_attempts": 50, "deadline_s": 1.5}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "no quorum"
    assert leader.requests_to("POST", "/admin/member/add") == []  # never an add without quorum
    assert result.last["context"]["elapsed_s"] <= 1.5 + 1.0  # the deadline plus at most one request
    assert markers_in(fba.state_dir) == []


def test_change_in_flight_is_waited_out(fba: Fba, node: Node) -> None:
    leader = node.leader()
    view = node.clusters["chainfire"].view()
    leader.script("GET", "/admin/members", *[Answer(200, {**view, "change_in_flight": True})] * 3)
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert result.with_message("another membership change is in flight")
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1


def test_add_whose_answer_was_lost_counts_as_our_join(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.delay("POST", "/admin/member/add", 2.0)  # commits, then answers too late
    fba.write_config(node.config(join={"request_timeout_s": 0.3}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1  # no second add
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1
    assert result.with_message("Successfully joined cluster")


def test_4xx_rejection_fails_at_once_naming_it(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.script("POST", "/admin/member/add", error(400, "malformed body: raft_addr"), repeat_last=True)
    fba.write_config(node.config(join={"max_attempts": 5}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert cause(result.last) == "rejected"
    assert "HTTP 400" in result.last["message"] and "malformed body: raft_addr" in result.last["message"]


def test_corrupt_marker_is_not_trusted(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    fba.marker(JOINED).write_text("garbage\n")

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert result.with_message("Marker corrupt", "WARN")
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert_marker(fba.marker(JOINED))


def test_hand_written_marker_from_the_design_procedure_is_honoured(fba: Fba, node: Node) -> None:
    """`date -Iseconds > marker` names no node: one read of the leader's list confirms it, and the
    marker is re-written with this node's identity, keeping its timestamp; nothing is added."""
    leader = node.leader()
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    # date -Iseconds > /var/lib/first-boot-automation/.chainfire-joined
    stamp = dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
    fba.marker(JOINED).write_text(stamp + "\n")

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert [r.path for r in leader.admin_requests()] == ["/admin/members"] and node.chainfire.requests == []
    assert assert_marker(fba.marker(JOINED), IDENTITY).isoformat(timespec="seconds") == stamp
    result = fba.run(*JOIN)  # now it names this node: no request at all
    assert result.rc == ExitCode.ALREADY_DONE and len(leader.admin_requests()) == 1, result.describe()


def test_state_dir_it_creates_is_0700(fba: Fba, node: Node) -> None:
    """fba creates the state directory 0700; one it did not create keeps its mode
    (`test_input_kinds.py`: used with a WARN, or refused when others may write to it)."""
    node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(JOINED))  # checks the directory is 0700


def test_flaredb_join_uses_its_own_raft_port_and_marker(fba: Fba, node: Node) -> None:
    leader = node.leader("flaredb")
    fba.write_config(node.config())

    result = fba.run("join", "--service", "flaredb")

    assert result.rc == ExitCode.OK, result.describe()
    body = leader.requests_to("POST", "/admin/member/add")[0].body
    assert isinstance(body, dict) and body["raft_addr"] == "127.0.0.1:2480"
    assert markers_in(fba.state_dir) == [FLAREDB_JOINED]
    assert node.flaredb.requests_to("GET", "/health") and node.chainfire.requests == []


def test_followers_pointing_at_each_other_end_bounded(fba: Fba, node: Node, servers: Servers) -> None:
    a = servers.start("follower-a", follower_lists=False)
    b = servers.start("follower-b")
    for me, other in ((a, b), (b, a)):
        hint = Answer(421, {"error": "not the leader", "leader_url": other.url}, {"X-Leader-URL": other.url})
        me.script("GET", "/admin/members", hint, repeat_last=True)
        me.script("POST", "/admin/member/add", hint, repeat_last=True)
    fba.write_config(node.config(leader_url=a.url, services={"chainfire": {"leader_url": a.url}}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "not the leader"
    assert len(a.requests) + len(b.requests) < 100
    assert result.elapsed_s < 15


def test_fixed_retry_mode_from_the_command_line(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.script("POST", "/admin/member/add", error(500, "boom"))
    fba.write_config(node.config())

    result = fba.run(*JOIN, "--retry-mode", "fixed", "--retry-delay", "0.1", "--max-attempts", "2")

    assert result.rc == ExitCode.OK, result.describe()
    assert "fixed 0.1s x 2" in result.with_message("Joining cluster")[0]["context"]["policy"]
    posts = leader.requests_to("POST", "/admin/member/add")
    assert [p.status for p in posts] == [500, 201]
    assert posts[1].at - posts[0].at >= 0.09


def test_bad_flag_values_are_exit_3(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    for flags in (("--max-attempts", "0"), ("--retry-delay", "-1"), ("--retry-mode", "sometimes")):
        result = fba.run(*JOIN, *flags)
        assert result.rc == ExitCode.INVALID, result.describe()
        assert "Traceback" not in result.output
    assert leader.requests == []


def test_config_and_state_dir_from_environment(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())
    env = {"FBA_CONFIG": str(fba.config_path), "FBA_STATE_DIR": str(fba.state_dir)}

    result = fba.run(*JOIN, env=env, global_paths=False)

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(JOINED))
    assert FBA.name == "fba"


def test_flags_after_the_subcommand(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN, "--config", str(fba.config_path), "--state-dir", str(fba.state_dir), global_paths=False)

    assert result.rc == ExitCode.OK, result.describe()
    assert Path(fba.marker(JOINED)).exists()


def test_raft_addr_owned_by_another_member_is_a_conflict(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].add_member("node07", RAFT_ADDR)
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "node07" in result.last["message"] and RAFT_ADDR in result.last["message"]
    assert leader.requests_to("POST", "/admin/member/add") == []
    assert markers_in(fba.state_dir) == []


def test_409_naming_our_id_with_another_address_is_a_conflict(fba: Fba, node: Node) -> None:
    leader = node.leader()
    other = {"id": NODE_ID, "raft_addr": "127.0.0.1:2999", "api_url": node.chainfire.url}
    leader.script("POST", "/admin/member/add", Answer(409, {"error": "already a member", "member": other}))
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "127.0.0.1:2999" in result.last["message"] and RAFT_ADDR in result.last["message"]
    assert markers_in(fba.state_dir) == []


def test_local_service_never_healthy_is_a_health_timeout(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.chainfire.healthy = False
    fba.write_config(node.config(health={"timeout_s": 1}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.last["message"] == "Health check timeout"
    assert cause(result.last) == "health check timeout"
    assert result.last["context"]["elapsed_s"] <= 1.5
    assert leader.requests == []
    assert markers_in(fba.state_dir) == []
