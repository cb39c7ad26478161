"""What a peer says is judged, at the process tier (break 6): a hint naming this node's own API
is never the leader; a member list with fields of the wrong type, or naming us twice, proves
nothing; numbers written as text never end `fba` with exit 70; an IAM admin list that cannot be
read is no "no admin"; a URL from a peer is never asked in clear text under TLS."""

from __future__ import annotations

from typing import Any

import pytest

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity

from .conftest import NODE_ID, PEER_HOST, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import JOINED, markers_in
from .fakes import Answer, FakeServer
from .fakes_join import HINT_WAYS, hint_leader_at, write_marker

JOIN = ("join", "--service", "chainfire")
SETTLED = {"has_quorum": True, "change_in_flight": False}


def own_list_of_one(node: Node) -> None:
    """This node's local chainfire formed a one-node cluster of its own: it lists us, as leader."""
    own = node.chainfire.url
    body = {
        "members": [{"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": own}],
        "leader": {"id": NODE_ID, "api_url": own},
    }
    node.chainfire.script("GET", "/admin/members", Answer(200, {**body, **SETTLED}), repeat_last=True)
    node.chainfire.script("POST", "/admin/member/add", Answer(201, {}), repeat_last=True)


def asked_at_admin(server: FakeServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.admin_requests()]


# Bug 1: a hint naming our own API ----------------------------------------------------------


@pytest.mark.parametrize("how", HINT_WAYS)
def test_a_hint_naming_this_nodes_own_api_never_proves_a_join(fba: Fba, node: Node, how: str) -> None:
    """The leader's list names this node's own API as leader (stale), or its answer redirects
    there: our own service lists us, but only the leader's list proves a join."""
    own_list_of_one(node)
    leader = node.leader()
    own = node.chainfire.url
    hint_leader_at(leader, node.clusters["chainfire"].view(), how, own, leader_id=NODE_ID)
    fba.write_config(node.config(join={"deadline_s": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert asked_at_admin(node.chainfire) == [], "this node's own API was asked as the leader"
    assert markers_in(fba.state_dir) == []
    assert result.with_message("this node's own chainfire API", "WARN")


def test_leave_is_not_redirected_to_this_nodes_own_api(fba: Fba, node: Node) -> None:
    own_list_of_one(node)
    node.chainfire.script("DELETE", f"/admin/member/{NODE_ID}", Answer(200, {}), repeat_last=True)
    leader = node.leader()
    own = node.chainfire.url
    leader.script(
        "DELETE",
        f"/admin/member/{NODE_ID}",
        Answer(307, {}, {"Location": f"{own}/admin/member/{NODE_ID}"}),
        repeat_last=True,
    )
    fba.write_config(node.config(join={"deadline_s": 2, "max_attempts": 2}))

    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert asked_at_admin(node.chainfire) == []


def test_a_foreign_marker_is_not_confirmed_by_this_nodes_own_api(fba: Fba, node: Node) -> None:
    """Kind F's one-off check takes the leader's word only: a list naming our own API as leader
    is no confirmation, so the cloned marker is not re-written as ours."""
    own_list_of_one(node)
    leader = node.leader()
    view = node.clusters["chainfire"].view()
    leader.script(
        "GET",
        "/admin/members",
        Answer(200, {**view, "leader": {"id": NODE_ID, "api_url": node.chainfire.url}}),
        repeat_last=True,
    )
    fba.write_config(node.config(join={"deadline_s": 2}))
    fba.state_dir.mkdir(mode=0o700)
    other = MarkerIdentity("node09", "testcluster", RAFT_ADDR)
    write_marker(fba.marker(JOINED), other)

    result = fba.run(*JOIN)

    assert asked_at_admin(node.chainfire) == [], result.describe()
    assert not result.with_message("marker verified by the leader"), result.describe()


# Bug 5: flags that are not booleans -------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "member_flag"),
    [("has_quorum", None), ("change_in_flight", None), ("committed", None), (None, "is_learner")],
)
def test_a_list_with_string_flags_is_a_bad_answer_not_a_proof(
    fba: Fba, node: Node, flag: str | None, member_flag: str | None
) -> None:
    leader = node.leader()
    view = node.clusters["chainfire"].view()
    us: dict[str, Any] = {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": ""}
    if member_flag:
        us[member_flag] = "true"
    body = {**view, "members": [*view["members"], us]}
    if flag:
        body[flag] = "true" if flag == "change_in_flight" else "false"
    leader.script("GET", "/admin/members", Answer(200, body), repeat_last=True)
    fba.write_config(node.config(join={"deadline_s": 1.5}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "bad response", result.last
    assert markers_in(fba.state_dir) == [] and leader.requests_to("POST", "/admin/member/add") == []


# Bug 6: duplicates ------------------------------------------------------------------------

DUPLICATES = {
    "our-id-two-addresses": [{"id": NODE_ID, "raft_addr": RAFT_ADDR}, {"id": NODE_ID, "raft_addr": "127.0.0.9:2381"}],
    "our-address-two-ids": [{"id": NODE_ID, "raft_addr": RAFT_ADDR}, {"id": "node09", "raft_addr": RAFT_ADDR}],
    "voter-and-learner": [
        {"id": NODE_ID, "raft_addr": RAFT_ADDR},
        {"id": NODE_ID, "raft_addr": RAFT_ADDR, "is_learner": True},
    ],
}


@pytest.mark.parametrize("order", [1, -1], ids=["as-listed", "reversed"])
@pytest.mark.parametrize("entries", list(DUPLICATES), ids=list(DUPLICATES))
def test_a_list_naming_us_twice_is_a_conflict_in_either_order(fba: Fba, node: Node, entries: str, order: int) -> None:
    leader = node.leader()
    view = node.clusters["chainfire"].view()
    body = {**view, "members": [*view["members"], *DUPLICATES[entries][::order]]}
    leader.script("GET", "/admin/members", Answer(200, body), repeat_last=True)
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert cause(result.last) == "membership conflict", result.last
    assert markers_in(fba.state_dir) == [] and leader.requests_to("POST", "/admin/member/add") == []


# Bug 7: numbers a peer writes as text -----------------------------------------------------


@pytest.mark.parametrize("command", [JOIN, ("leave", "--service", "chainfire"), ("health-report",)])
def test_a_member_raft_port_in_other_digits_is_no_crash(fba: Fba, node: Node, command: tuple[str, ...]) -> None:
    node.serve_members()
    node.list_self()
    leader = node.leader()
    node.clusters["chainfire"].add_member("node09", "127.0.0.1:²", "")
    node.clusters["flaredb"].add_member("node09", "127.0.0.1:²", "")
    fba.write_config(node.config(join={"deadline_s": 2}))

    result = fba.run(*command)

    assert result.rc != ExitCode.INTERNAL, result.describe()
    assert "Traceback" not in result.output
    assert leader.requests  # it got as far as asking


RETRY_AFTERS = {"superscript-two": "²", "400-nines": "9" * 400, "5000-nines": "9" * 5000}


@pytest.mark.parametrize("value", list(RETRY_AFTERS), ids=list(RETRY_AFTERS))
@pytest.mark.parametrize("status", [429, 503])
def test_an_odd_retry_after_on_the_add_is_no_crash(fba: Fba, node: Node, status: int, value: str) -> None:
    leader = node.leader()
    leader.script("POST", "/admin/member/add", Answer(status, {"error": "later"}, {"Retry-After": RETRY_AFTERS[value]}))
    fba.write_config(node.config(join={"deadline_s": 5}))

    result = fba.run(*JOIN)

    if value == "superscript-two":  # unreadable: the join's own backoff, then the add goes through
        assert result.rc == ExitCode.OK, result.describe()
    else:  # "very much later": beyond the deadline, which ends the join at once, naming it
        assert result.rc == ExitCode.FAILED, result.describe()
        assert cause(result.last) == "Retry-After beyond the deadline", result.last
        assert result.last["context"]["elapsed_s"] < 2


@pytest.mark.parametrize("value", list(RETRY_AFTERS), ids=list(RETRY_AFTERS))
def test_an_odd_retry_after_on_a_health_url_is_no_crash(fba: Fba, servers: Servers, value: str) -> None:
    service = servers.start("svc")
    service.script("GET", "/health", Answer(503, {"status": "starting"}, {"Retry-After": RETRY_AFTERS[value]}))

    result = fba.run("wait-healthy", "--url", f"{service.url}/health", "--timeout", "5", global_paths=False)

    expected = ExitCode.HEALTHY if value == "superscript-two" else ExitCode.UNHEALTHY
    assert result.rc == expected, result.describe()


# Bugs 7 and 13: an IAM admin list that cannot be read -------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"users": None},
        {"users": 5},
        {"users": "admin"},
        [{"name": "root"}],
        "<html>login</html>",
        None,
        {"users": [{"name": 5}]},
    ],
    ids=["users-null", "users-number", "users-string", "json-array", "html", "empty", "name-not-a-string"],
)
def test_an_unreadable_admin_list_is_a_bad_answer_not_no_admin(fba: Fba, node: Node, body: Any) -> None:
    node.write_token()
    node.iam.script("GET", "/users", Answer(200, body), repeat_last=True)
    fba.write_config(node.config())

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "bad response", result.last
    assert node.iam.requests_to("POST", "/users") == [], "an admin was created next to one it could not see"
    assert markers_in(fba.state_dir) == []


# Bug 8: no clear text under TLS because a peer said so ------------------------------------


def test_health_report_probes_a_stale_members_http_api_url_over_https(
    fba: Fba, tls_node: Node, servers: Servers
) -> None:
    tls_node.serve_members()
    tls_node.list_self()
    tls_node.leader("chainfire")  # the stale member is in the leader's list (break 9)
    plain = servers.start("plain", host=PEER_HOST)  # would answer a clear-text GET /health
    tls_node.clusters["chainfire"].add_member("node09", "127.0.0.2:2380", f"http://{PEER_HOST}:{plain.port}")
    fba.write_config(tls_node.config())

    result = fba.run("health-report")

    assert plain.requests == [], "a clear-text request reached the member's http:// api_url"
    lines = [line for line in result.lines if "summary" in line.get("context", {})]
    checks = {c["name"]: c for c in lines[0]["context"]["summary"]["checks"]}
    stale = checks["stale-member:chainfire:node09"]
    assert f"https://{PEER_HOST}:{plain.port}/health" in stale["detail"], stale
