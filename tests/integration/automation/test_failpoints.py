"""Crash `fba join` at each named failpoint (SIGKILL), run it again, and prove it converges:
one member, a whole marker, no duplicate add."""

from __future__ import annotations

import signal

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, Fba, Node
from .expect import JOINED, assert_marker, markers_in

JOIN = ("join", "--service", "chainfire")


@pytest.mark.parametrize("failpoint", ["join.after-add", "join.after-verify", "marker.before-rename"])
def test_crash_then_rerun_converges(fba: Fba, node: Node, failpoint: str) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    env = {"FBA_FAILPOINTS": f"{failpoint}=crash"}

    crashed = fba.run(*JOIN, env=env)

    assert crashed.rc == -signal.SIGKILL, crashed.describe()
    assert markers_in(fba.state_dir) == []
    assert failpoint in fba.fired_file.read_text().split()
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1  # the add committed

    rerun = fba.run(*JOIN, env=env)  # still armed: the record says it already fired

    # Every one of these crashes comes after the add committed, and no marker was renamed into
    # place: the rerun finds the node listed without adding it itself, so "already a member".
    assert rerun.rc == ExitCode.ALREADY_DONE, rerun.describe()
    assert_marker(fba.marker(JOINED))
    assert markers_in(fba.state_dir) == [JOINED]
    assert node.clusters["chainfire"].member_ids().count(NODE_ID) == 1
    assert [r.status for r in leader.requests_to("POST", "/admin/member/add")] == [201]
    # The crashed writer's temp file (marker.before-rename) is removed by the rerun before it
    # writes (MarkerStore.ensure_directory: the pid in its name is dead).
    leftovers = [p.name for p in fba.state_dir.iterdir() if ".tmp-" in p.name]
    assert leftovers == [], leftovers

    seen = len(leader.requests) + len(node.chainfire.requests)
    third = fba.run(*JOIN, env=env)
    assert third.rc == ExitCode.ALREADY_DONE
    assert len(leader.requests) + len(node.chainfire.requests) == seen  # marker present: no network call
    assert third.with_message("marker present")


def test_crash_before_request_sends_nothing_and_rerun_joins(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    env = {"FBA_FAILPOINTS": "join.before-request=crash"}

    crashed = fba.run(*JOIN, env=env)
    assert crashed.rc == -signal.SIGKILL, crashed.describe()
    assert leader.requests_to("POST", "/admin/member/add") == []

    rerun = fba.run(*JOIN, env=env)
    assert rerun.rc == ExitCode.OK, rerun.describe()
    assert_marker(fba.marker(JOINED))


def test_failpoints_are_inert_unless_armed(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK
    assert not fba.fired_file.exists()
    assert not result.with_message("Failpoint fired")


def test_unknown_failpoint_is_a_usage_error(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN, env={"FBA_FAILPOINTS": "join.nowhere=crash"})

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "join.nowhere" in result.output
    assert leader.requests == []
