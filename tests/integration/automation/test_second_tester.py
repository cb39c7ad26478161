"""Found by a second tester (break 7), at the process tier with fake peers on 127.0.0.x:
this node's own API in another spelling is never the leader (nor a configured one); an id with
a trailing newline is no node id; leave's proof of removal is the join's judgement; and
health-report neither repeats a member's credentials nor advises a command with a bad id.

This node's own API is on 127.0.0.1 here (`conftest.Node`), the leader on 127.0.0.1 too on
another port."""

from __future__ import annotations

import pytest

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import leaving_name

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers
from .expect import JOINED, markers_in
from .fakes import Answer, FakeServer

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")
SETTLED = {"has_quorum": True, "change_in_flight": False}

# 127.0.0.1 as getaddrinfo (inet_aton) and an IPv6 socket reach it: every one connects to us.
OWN_SPELLINGS = {
    "v4-mapped": "[::ffff:127.0.0.1]",
    "v4-mapped-hex": "[::ffff:7f00:1]",
    "zero-padded": "127.000.000.001",
    "one-number": "2130706433",
    "short": "127.1",
    "octal": "0177.0.0.1",
}


def own_list_of_one(node: Node) -> None:
    """Our local chainfire formed a one-node cluster of its own: it lists us and takes anything."""
    body = {"members": [{"id": NODE_ID, "raft_addr": RAFT_ADDR}], "service": "chainfire", **SETTLED}
    node.chainfire.script("GET", "/admin/members", Answer(200, body), repeat_last=True)
    node.chainfire.script("POST", "/admin/member/add", Answer(201, {}), repeat_last=True)
    node.chainfire.script("DELETE", f"/admin/member/{NODE_ID}", Answer(200, {}), repeat_last=True)


def asked_at_admin(server: FakeServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.admin_requests()]


def own_url(node: Node, spelling: str) -> str:
    return f"http://{spelling}:{node.chainfire.port}"


# Finding 1: this node's own API, however it is spelt ---------------------------------------


@pytest.mark.parametrize("spelling", list(OWN_SPELLINGS.values()), ids=list(OWN_SPELLINGS))
def test_a_redirect_to_this_nodes_own_api_in_another_spelling_is_refused(fba: Fba, node: Node, spelling: str) -> None:
    own_list_of_one(node)
    leader = node.leader()
    target = own_url(node, spelling)
    leader.script("GET", "/admin/members", Answer(307, {}, {"Location": f"{target}/admin/members"}), repeat_last=True)
    leader.script(
        "POST", "/admin/member/add", Answer(307, {}, {"Location": f"{target}/admin/member/add"}), repeat_last=True
    )
    fba.write_config(node.config(join={"deadline_s": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert asked_at_admin(node.chainfire) == [], "this node's own API was asked as the leader"
    assert markers_in(fba.state_dir) == []
    assert result.with_message("this node's own chainfire API", "WARN"), result.describe()


@pytest.mark.parametrize("spelling", ["127.000.000.001", "[::ffff:7f00:1]"], ids=["zero-padded", "v4-mapped-hex"])
def test_leave_is_not_redirected_to_this_nodes_own_api_in_another_spelling(fba: Fba, node: Node, spelling: str) -> None:
    node.leader()
    fba.write_config(node.config())
    assert fba.run(*JOIN).rc == ExitCode.OK
    own_list_of_one(node)
    target = own_url(node, spelling)
    node.leaders["chainfire"].script(
        "DELETE",
        f"/admin/member/{NODE_ID}",
        Answer(307, {}, {"Location": f"{target}/admin/member/{NODE_ID}"}),
        repeat_last=True,
    )
    fba.write_config(node.config(join={"deadline_s": 2, "max_attempts": 2}))

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert asked_at_admin(node.chainfire) == []
    assert markers_in(fba.state_dir) == [JOINED]
    assert NODE_ID in node.clusters["chainfire"].member_ids()


@pytest.mark.parametrize(
    "field",
    ["leader_url", "services.chainfire.leader_url", "discovery.peer_urls"],
)
@pytest.mark.parametrize("spelling", ["127.0.0.1", "127.000.000.001", "[::ffff:127.0.0.1]", "LocalHost."])
def test_a_joining_nodes_config_naming_its_own_api_as_leader_is_invalid(
    fba: Fba, node: Node, field: str, spelling: str
) -> None:
    own_list_of_one(node)
    leader = node.leader()
    own = own_url(node, spelling)
    if field == "leader_url":
        config = node.config(leader_url=own, services={"chainfire": {"leader_url": None}})
    elif field == "services.chainfire.leader_url":
        config = node.config(services={"chainfire": {"leader_url": own}})
    else:
        config = node.config(discovery={"peer_urls": [own]})
    fba.write_config(config)

    validate = fba.run("config", "validate")
    result = fba.run(*JOIN)

    assert validate.rc == ExitCode.CONFIG_INVALID, validate.describe()
    assert "this node's own chainfire API" in validate.output, validate.describe()
    assert result.rc == ExitCode.INVALID, result.describe()
    assert asked_at_admin(node.chainfire) == [] and asked_at_admin(leader) == []
    assert markers_in(fba.state_dir) == []


def test_a_bootstrap_nodes_leave_with_only_its_own_api_configured_never_asks_it(fba: Fba, node: Node) -> None:
    """A bootstrap node's leader_url may be itself; `leave` then has nobody but itself to ask,
    and asking its own service (a one-node cluster of its own) proves nothing: exit 3."""
    own_list_of_one(node)
    own = node.chainfire.url
    fba.write_config(
        node.config(
            bootstrap=True,
            initial_peers=[f"{NODE_ID}={RAFT_ADDR}"],
            leader_url=own,
            services={"chainfire": {"leader_url": None}, "flaredb": {"leader_url": None}},
        )
    )
    fba.state_dir.mkdir(mode=0o700)
    fba.marker(JOINED).write_text("2026-12-01T00:00:00+00:00\n")

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert asked_at_admin(node.chainfire) == []
    assert "this node's own API" in result.output and "Traceback" not in result.output


def test_health_report_does_not_probe_this_node_as_its_own_peer(fba: Fba, node: Node) -> None:
    node.serve_members()
    node.list_self()
    fba.write_config(node.config(initial_peers=["127.000.000.001:2380"]))

    result = fba.run("health-report")

    summary = next(line for line in result.lines if "summary" in line.get("context", {}))["context"]["summary"]
    assert not [c["name"] for c in summary["checks"] if ":peer:" in c["name"]], summary


# Finding 2: `$` lets a final newline through ----------------------------------------------


def test_leave_member_with_a_trailing_newline_is_no_node_id(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())
    assert fba.run(*JOIN).rc == ExitCode.OK
    node.clusters["chainfire"].add_member("node02", "127.0.0.2:2380")
    before = node.clusters["chainfire"].member_ids()

    result = fba.run(*LEAVE, "--member", "node02\n")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "not a node id" in result.stderr
    assert node.clusters["chainfire"].member_ids() == before
    assert not [r for r in node.leaders["chainfire"].requests if r.method == "DELETE"]


def test_a_peer_id_with_a_trailing_newline_is_a_config_error(fba: Fba, node: Node) -> None:
    fba.write_config(node.config(initial_peers=["node02\n=127.0.0.2:2380"]))

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.CONFIG_INVALID, result.describe()
    assert "initial_peers" in result.output


# Finding 3: removal is judged as the join judges membership -------------------------------


@pytest.mark.parametrize("listed_as", ["node04 ", "NODE04", "node09"])
def test_leave_keeps_markers_while_the_leader_lists_our_raft_address_under_another_id(
    fba: Fba, node: Node, listed_as: str
) -> None:
    node.leader()
    fba.write_config(node.config(join={"deadline_s": 2}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    still = {"members": [{"id": listed_as, "raft_addr": RAFT_ADDR}], "service": "chainfire", **SETTLED}
    node.leaders["chainfire"].script("GET", "/admin/members", Answer(200, still), repeat_last=True)

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.FAILED, result.describe()
    # The DELETE was taken (200): the marker stays set aside, never trusted (break 9)
    assert markers_in(fba.state_dir) == [leaving_name(JOINED)]
    assert result.with_message("not proven removed"), result.describe()


# Finding 8: health-report repeats neither credentials nor bad ids --------------------------


def test_health_report_redacts_a_members_credentials_and_advises_only_node_ids(
    fba: Fba, node: Node, servers: Servers
) -> None:
    node.serve_members()
    node.list_self()
    node.leader("chainfire")  # the members are in the leader's list (break 9)
    node.clusters["chainfire"].add_member("node09", "127.0.0.9:2380", "http://user:s3cret@127.0.0.9:1/")
    node.clusters["chainfire"].add_member("x;reboot", "127.0.0.8:2380", "http://127.0.0.8:1/")
    fba.write_config(node.config())

    result = fba.run("health-report")

    assert "s3cret" not in result.output, result.describe()
    summary = next(line for line in result.lines if "summary" in line.get("context", {}))["context"]["summary"]
    checks = {c["name"]: c["detail"] for c in summary["checks"]}
    assert "http://***@127.0.0.9:1/health" in checks["stale-member:chainfire:node09"]
    assert "--member node09" in checks["stale-member:chainfire:node09"]
    bad = checks["stale-member:chainfire:x;reboot"]
    assert "--member" not in bad and "not a valid node id" in bad, bad
