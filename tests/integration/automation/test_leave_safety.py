"""`fba leave` of this node, found by a fourth tester (break 9): it judges the leader's list as the
join does before any DELETE (our id at another Raft address is another machine: exit 3, nothing
sent); a node that leads says so once; and no marker stays trusted while the member may be gone,
wherever the leave is killed."""

from __future__ import annotations

import signal
import time

import pytest

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity, leaving_name

from .conftest import FBA, NODE_ID, RAFT_ADDR, Fba, Node, cause, collect
from .expect import JOINED, markers_in
from .fakes import Answer
from .fakes_join import write_marker

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")
ME = MarkerIdentity(NODE_ID, "testcluster", RAFT_ADDR)
OTHER_ADDR = "127.9.0.44:2380"


def joined(fba: Fba, node: Node) -> None:
    """This node joined (the leader lists it) and holds its marker."""
    fba.write_config(node.config(join={"deadline_s": 3}))
    assert fba.run(*JOIN).rc == ExitCode.OK


# F5: our id at another Raft address --------------------------------------------------------


@pytest.mark.parametrize(
    ("listed_id", "listed_addr", "named"),
    [(NODE_ID, OTHER_ADDR, OTHER_ADDR), ("node09", RAFT_ADDR, "node09")],
    ids=["our-id-elsewhere", "our-address-under-another-id"],
)
def test_leave_of_this_node_listed_at_another_raft_address_is_a_conflict_and_sends_nothing(
    fba: Fba, node: Node, listed_id: str, listed_addr: str, named: str
) -> None:
    """The join's judgement of the leader's list, before any DELETE (`membership.judge`)."""
    leader = node.leader()
    node.clusters["chainfire"].add_member(listed_id, listed_addr, "http://127.9.0.44:2379")
    fba.write_config(node.config(join={"deadline_s": 3}))
    fba.state_dir.mkdir(mode=0o700)
    write_marker(fba.marker(JOINED), ME)

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert [r for r in leader.admin_requests() if r.method == "DELETE"] == []
    assert listed_id in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == [JOINED]  # nothing moved: nothing was sent
    [line] = result.levels("ERROR")
    assert cause(line) == "membership conflict", line
    assert named in line["message"] and RAFT_ADDR in line["message"], line
    assert "--member" in line["message"], line
    if listed_id != NODE_ID:
        return

    explicit = fba.run(*LEAVE, "--member", NODE_ID)  # the operator's decision: it is removed

    assert explicit.rc == ExitCode.OK, explicit.describe()
    assert NODE_ID not in node.clusters["chainfire"].member_ids()


# F11: this node is the leader ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["421 to the DELETE", "307 to the DELETE", "the list names us"])
def test_leave_of_the_leader_says_so_in_one_line_and_retries_nothing(fba: Fba, node: Node, how: str) -> None:
    leader = node.leader()
    joined(fba, node)
    own = node.chainfire.url
    path = f"/admin/member/{NODE_ID}"
    if how == "421 to the DELETE":
        leader.script("DELETE", path, Answer(421, {"error": "not the leader"}, {"X-Leader-URL": own}), repeat_last=True)
    elif how == "307 to the DELETE":
        leader.script("DELETE", path, Answer(307, {}, {"Location": f"{own}{path}"}), repeat_last=True)
    else:
        view = node.clusters["chainfire"].view()
        led = {**view, "leader": {"id": NODE_ID, "api_url": own}, "has_quorum": True, "change_in_flight": False}
        leader.script("GET", "/admin/members", Answer(200, led), repeat_last=True)

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.FAILED, result.describe()
    [line] = result.levels("ERROR")
    assert cause(line) == "this node is the leader", line
    assert "leadership" in line["message"], line
    assert len(leader.requests_to("DELETE", path)) == (0 if how == "the list names us" else 1)
    assert node.chainfire.admin_requests() == []
    assert markers_in(fba.state_dir) == [JOINED]  # no DELETE took effect: the marker is back


def test_leave_of_another_member_on_the_leader_says_to_run_it_elsewhere(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].add_member("node09", "127.0.0.1:2389", "http://127.0.0.1:9")
    joined(fba, node)
    own = node.chainfire.url
    leader.script("DELETE", "/admin/member/node09", Answer(421, {}, {"X-Leader-URL": own}), repeat_last=True)

    result = fba.run(*LEAVE, "--member", "node09")

    assert result.rc == ExitCode.FAILED, result.describe()
    [line] = result.levels("ERROR")
    assert cause(line) == "this node is the leader", line
    assert "on another member" in line["message"], line
    assert len(leader.requests_to("DELETE", "/admin/member/node09")) == 1


# F6: killed at any point, no false marker stays ----------------------------------------------


def test_a_leave_killed_before_its_delete_leaves_no_trusted_marker_and_the_join_re_derives_it(
    fba: Fba, node: Node
) -> None:
    leader = node.leader()
    joined(fba, node)

    killed = fba.run(*LEAVE, env={"FBA_FAILPOINTS": "leave.before-delete=crash"})

    assert killed.rc == -signal.SIGKILL, killed.describe()
    assert leader.requests_to("DELETE", f"/admin/member/{NODE_ID}") == []
    assert markers_in(fba.state_dir) == [leaving_name(JOINED)]
    status = fba._run([str(FBA), "--state-dir", str(fba.state_dir), "status", "--timeout", "1"], fba.env(), 10.0)
    assert "set aside by an `fba leave` that did not finish" in status.stdout, status.describe()

    rejoin = fba.run(*JOIN)  # the member is still listed: the join writes its marker again

    assert rejoin.rc == ExitCode.ALREADY_DONE, rejoin.describe()
    assert not rejoin.with_message("marker present")
    assert [r.status for r in leader.requests_to("POST", "/admin/member/add")] == [201], "listed: no second add"
    assert JOINED in markers_in(fba.state_dir)


def test_a_leave_killed_after_the_delete_answered_leaves_no_trusted_marker(fba: Fba, node: Node) -> None:
    leader = node.leader()
    joined(fba, node)

    killed = fba.run(*LEAVE, env={"FBA_FAILPOINTS": "leave.after-delete=crash"})

    assert killed.rc == -signal.SIGKILL, killed.describe()
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == [leaving_name(JOINED)]

    rejoin = fba.run(*JOIN)  # asks the leader, which no longer lists us: it joins again

    assert rejoin.rc == ExitCode.OK, rejoin.describe()
    assert not rejoin.with_message("marker present")
    assert [r.status for r in leader.requests_to("POST", "/admin/member/add")] == [201, 201]


def test_a_leave_terminated_while_its_delete_is_in_flight_leaves_no_trusted_marker(fba: Fba, node: Node) -> None:
    """break 9's repro: SIGTERM (systemctl stop, a shutdown) while the leader takes 2 s to answer
    the DELETE, which it then commits."""
    leader = node.leader()
    joined(fba, node)
    path = f"/admin/member/{NODE_ID}"
    leader.delay("DELETE", path, 2.0)

    proc = fba.start(*LEAVE)
    deadline = time.monotonic() + 10
    while not _set_aside(fba):
        assert time.monotonic() < deadline, "the leave never set its marker aside"
        time.sleep(0.05)
    time.sleep(0.5)  # the DELETE is on its way (the aside happens just before it is sent)
    proc.send_signal(signal.SIGTERM)
    result = collect(proc)
    time.sleep(2.0)  # the leader answers and commits after its delay

    assert result.rc == -signal.SIGTERM, result.describe()
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == [leaving_name(JOINED)]

    rejoin = fba.run(*JOIN)

    assert rejoin.rc == ExitCode.OK, rejoin.describe()
    assert not rejoin.with_message("marker present")


def _set_aside(fba: Fba) -> bool:
    return (fba.state_dir / leaving_name(JOINED)).exists()


@pytest.mark.parametrize("refusal", [Answer(403, {"error": "forbidden"}), Answer(400, {"error": "bad request"})])
def test_a_refused_delete_puts_the_marker_back(fba: Fba, node: Node, refusal: Answer) -> None:
    leader = node.leader()
    joined(fba, node)
    leader.script("DELETE", f"/admin/member/{NODE_ID}", refusal, repeat_last=True)

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert markers_in(fba.state_dir) == [JOINED]
    assert result.with_message("Markers restored", "INFO")
    again = fba.run(*JOIN)
    assert again.rc == ExitCode.ALREADY_DONE and again.with_message("marker present"), again.describe()


def test_a_leave_that_proves_the_removal_drops_the_copies_an_earlier_leave_set_aside(fba: Fba, node: Node) -> None:
    node.leader()
    joined(fba, node)
    assert fba.run(*LEAVE, env={"FBA_FAILPOINTS": "leave.before-delete=crash"}).rc == -signal.SIGKILL
    assert fba.run(*JOIN).rc == ExitCode.ALREADY_DONE  # re-derived: marker written again

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.OK, result.describe()
    assert markers_in(fba.state_dir) == []
