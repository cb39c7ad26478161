"""Kind C: answers that mean "later" are retried within the deadline, honouring Retry-After
(seconds or HTTP date); answers that mean "never" end the step at once, quoting the answer.
The same table holds for join, leave, iam-setup, wait-healthy and health-report's notify."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import JOINED, assert_marker, markers_in
from .fakes import Answer, error
from .rawpeers import RawPeer, answer, reset, truncated

JOIN = ("join", "--service", "chainfire")
ADD = ("POST", "/admin/member/add")


def _later(status: int, retry_after: str = "0") -> Answer:
    return error(status, "retry later", ("Retry-After", retry_after))


def test_ratelimit429_case_two_429_then_201_joins(fba: Fba, node: Node) -> None:
    """The shared `ratelimit429` case: 429 Retry-After 1 twice, then the add is accepted."""
    leader = node.leader()
    leader.script(*ADD, _later(429, "1"), _later(429, "1"))  # then the cluster adds us
    fba.write_config(node.config(join={"max_attempts": 5, "deadline_s": 10}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(JOINED))
    adds = leader.requests_to(*ADD)
    assert [r.status for r in adds] == [429, 429, 201]
    gaps = [b.at - a.at for a, b in zip(adds, adds[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # Retry-After: 1 honoured each time


@pytest.mark.parametrize("status", [408, 425, 429, 502, 503, 504])
def test_every_later_status_is_retried_without_using_attempts(fba: Fba, node: Node, status: int) -> None:
    leader = node.leader()
    leader.script(*ADD, *[_later(status)] * 4)  # more "later" answers than attempts
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in leader.requests_to(*ADD)] == [status] * 4 + [201]


def test_retry_after_as_http_date_is_honoured(fba: Fba, node: Node) -> None:
    leader = node.leader()
    not_before = int(time.time()) + 3  # HTTP dates have whole seconds
    leader.script(*ADD, Answer(503, {"error": "busy"}, {"Retry-After": formatdate(not_before, usegmt=True)}))
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    wall_minus_monotonic = time.time() - time.monotonic()
    second = leader.requests_to(*ADD)[1]
    assert second.at + wall_minus_monotonic >= not_before - 0.05, result.describe()


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_beyond_the_deadline_ends_the_join_at_once(fba: Fba, node: Node, status: int) -> None:
    leader = node.leader()
    leader.script(*ADD, _later(status, "3600"), repeat_last=True)
    fba.write_config(node.config(join={"deadline_s": 10}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.last["context"]["elapsed_s"] < 2  # not the 10 s deadline, not an hour
    assert cause(result.last) == "Retry-After beyond the deadline"
    assert "asked to wait 3600s" in result.last["message"] and f"HTTP {status}" in result.last["message"]
    assert len(leader.requests_to(*ADD)) == 1


def test_later_answers_forever_end_by_the_deadline_naming_them(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.script(*ADD, _later(502, "0"), repeat_last=True)
    fba.write_config(node.config(join={"deadline_s": 1.5, "max_retry_delay_s": 0.2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.last["context"]["elapsed_s"] < 1.5 + 1
    assert cause(result.last) == "asked to retry later"
    assert "HTTP 502" in result.last["message"]
    assert markers_in(fba.state_dir) == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 422])
def test_never_answers_end_the_join_at_once_with_the_body(fba: Fba, node: Node, status: int) -> None:
    leader = node.leader()
    leader.script(*ADD, error(status, f"no way {status}"), repeat_last=True)
    fba.write_config(node.config(join={"max_attempts": 5}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert len(leader.requests_to(*ADD)) == 1
    assert cause(result.last) == "rejected"
    assert f"HTTP {status}" in result.last["message"] and f"no way {status}" in result.last["message"]


def test_later_on_the_member_list_is_waited_out_too(fba: Fba, node: Node) -> None:
    leader = node.leader()
    leader.script("GET", "/admin/members", _later(503), _later(429))
    fba.write_config(node.config(join={"max_attempts": 1}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()


def _lists_of_a_leader_at(url: str) -> tuple[bytes, bytes]:
    """The leader's member list before and after our add; it names itself (only the leader's
    list proves a join)."""
    leader = {"id": "node01", "api_url": url}
    body = {"members": [], "leader": leader, "has_quorum": True, "change_in_flight": False}
    added = {**body, "members": [{"id": NODE_ID, "raft_addr": RAFT_ADDR}]}  # both flags said (break 12, K9)
    return json.dumps(body).encode(), json.dumps(added).encode()


@pytest.fixture
def reset_then_leader(node: Node) -> Iterator[RawPeer]:
    """A leader address whose first connection is reset, then answers as the real leader would."""
    peer = RawPeer()
    body, added = _lists_of_a_leader_at(peer.url)
    peer.play(reset(), answer(200, body), answer(201, b"{}"), answer(200, added))
    yield peer
    peer.close()


def test_connection_reset_is_later_not_an_attempt(fba: Fba, node: Node, reset_then_leader: RawPeer) -> None:
    url = reset_then_leader.url
    fba.write_config(node.config(leader_url=url, services={"chainfire": {"leader_url": url}}, join={"max_attempts": 1}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert reset_then_leader.connections == 4
    assert any(line["context"].get("cause") == "connection reset" for line in result.lines)


# --- the same table in the other commands


def test_leave_waits_out_429_and_stops_at_403(fba: Fba, node: Node) -> None:
    leader = node.leader()
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    path = f"/admin/member/{NODE_ID}"
    leader.script("DELETE", path, _later(429, "1"))
    fba.write_config(node.config(join={"max_attempts": 1}))

    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.OK, result.describe()
    deletes = leader.requests_to("DELETE", path)
    assert [r.status for r in deletes] == [429, 200] and deletes[1].at - deletes[0].at >= 0.95

    leader.script("DELETE", path, error(403, "leave forbidden by policy"), repeat_last=True)
    refused = fba.run("leave", "--service", "chainfire")
    assert refused.rc == ExitCode.FAILED, refused.describe()
    assert cause(refused.last) == "rejected" and "leave forbidden by policy" in refused.last["message"]
    assert len(leader.requests_to("DELETE", path)) == 3


def test_iam_setup_waits_out_503_on_create(fba: Fba, node: Node) -> None:
    node.write_token()
    node.iam.script("POST", "/users", _later(503, "1"))
    fba.write_config(node.config(join={"max_attempts": 1}))

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in node.iam.requests_to("POST", "/users")] == [503, 201]


def test_wait_healthy_404_ends_at_once(fba: Fba, servers: Servers) -> None:
    service = servers.start("svc")
    service.script("GET", "/health", error(404, "no such path"), repeat_last=True)

    result = fba.run("wait-healthy", "--url", f"{service.url}/health", "--timeout", "30", global_paths=False)

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert result.last["context"]["elapsed_s"] < 1
    assert len(service.requests_to("GET", "/health")) == 1
    assert cause(result.last) == "rejected" and "no such path" in result.last["message"]


def test_wait_healthy_honours_retry_after(fba: Fba, servers: Servers) -> None:
    service = servers.start("svc")
    service.script("GET", "/health", Answer(503, {"status": "starting"}, {"Retry-After": "1"}))

    result = fba.run("wait-healthy", "--url", f"{service.url}/health", "--timeout", "10", global_paths=False)

    assert result.rc == ExitCode.HEALTHY, result.describe()
    first, second = service.requests_to("GET", "/health")
    assert second.at - first.at >= 0.95


def test_notify_waits_out_429_and_gives_up_on_400_after_one_post(fba: Fba, node: Node, servers: Servers) -> None:
    node.serve_members()
    node.list_self()
    hook = servers.start("hook")
    hook.script("POST", "/notify", _later(429, "0"), Answer(204))
    fba.write_config(node.config(notify_url=f"{hook.url}/notify", notify_attempts=1))

    result = fba.run("health-report")

    assert result.with_message("Health summary sent", "INFO"), result.describe()
    assert [r.status for r in hook.requests_to("POST", "/notify")] == [429, 204]

    hook.clear()
    hook.script("POST", "/notify", error(400, "bad summary"), repeat_last=True)
    fba.write_config(node.config(notify_url=f"{hook.url}/notify", notify_attempts=3))
    refused = fba.run("health-report")
    warned = refused.with_message("Could not send the health summary", "WARN")
    assert warned and warned[0]["context"]["cause"] == "rejected", refused.describe()
    assert len(hook.requests_to("POST", "/notify")) == 1


def test_body_cut_short_is_later_not_an_attempt(fba: Fba, node: Node) -> None:
    """urllib3#1352, requests#5948: an answer whose body stops short (IncompleteRead) is a
    broken connection, retried like a reset, not a spent attempt or an unreadable list."""
    peer = RawPeer()
    body, added = _lists_of_a_leader_at(peer.url)
    peer.play(truncated(), answer(200, body), answer(201, b"{}"), answer(200, added))
    try:
        url = peer.url
        fba.write_config(
            node.config(leader_url=url, services={"chainfire": {"leader_url": url}}, join={"max_attempts": 1})
        )
        result = fba.run(*JOIN)
    finally:
        peer.close()

    assert result.rc == ExitCode.OK, result.describe()
    assert any(line["context"].get("cause") == "connection reset" for line in result.lines)
