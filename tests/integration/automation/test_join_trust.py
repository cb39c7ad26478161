"""`fba join` trusts nothing it has not checked (issue 12, kinds D, E and F), at the process tier.

D. Hints are candidates: never a lower scheme, never another service's port or member list;
   candidates that cannot help are set aside and the others tried, with a growing pause.
E. Only a final read proves membership: listed, as a voter, with quorum and no change in flight.
F. Markers say for whom they were written; another node's (a cloned disk) or nobody's is
   verified once against the leader, and trusted with a WARN only when no leader answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import MarkerIdentity, foreign_name, leaving_name

from .conftest import NODE_ID, PEER_HOST, RAFT_ADDR, Fba, Node, Servers, cause
from .expect import IAM_INITIALIZED, JOINED, assert_marker, markers_in
from .fakes import Answer, Cluster, free_port
from .fakes_join import SettlingCluster, write_marker, write_old_marker

JOIN = ("join", "--service", "chainfire")
FLAREDB_JOIN = ("join", "--service", "flaredb")
ME = MarkerIdentity(NODE_ID, "testcluster", RAFT_ADDR)


def said(line: Mapping[str, Any]) -> str:
    """The final line's cause (a `Cause` value) and its detail, as "cause: detail"."""
    context = line.get("context")
    if not isinstance(context, dict):
        return ""
    return f"{context.get('cause')}: {context.get('detail')}"


def posts(*servers: Any) -> list[Any]:
    return [r for s in servers for r in s.requests_to("POST", "/admin/member/add")]


# D. Hints are candidates, not verdicts -----------------------------------------------------


def test_tls_307_to_http_is_never_followed_in_clear_text(fba: Fba, tls_node: Node, servers: Servers) -> None:
    """The shared `downgrade` case: with tls.enabled, a follower redirects to http://. The hint
    is asked over verified https (the plain server cannot answer that), nothing is sent in clear
    text, and no marker is written."""
    plain = servers.start("plain", host=PEER_HOST, cluster=Cluster())  # would accept any add
    hint = f"http://{PEER_HOST}:{plain.port}"
    follower = servers.start("follower", tls=tls_node.tls)
    for path in ("/admin/members", "/admin/member/add"):
        follower.script(
            "GET" if path == "/admin/members" else "POST",
            path,
            Answer(307, {"error": "not the leader"}, {"Location": hint + path}),
            repeat_last=True,
        )
    fba.write_config(tls_node.config(leader_url=follower.url, services={"chainfire": {"leader_url": follower.url}}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert plain.requests == [], "a request reached the plain-http hint"
    assert posts(follower, plain) == []
    assert markers_in(fba.state_dir) == []
    assert result.with_message(f"asking https://{PEER_HOST}:{plain.port} instead", "WARN")


@pytest.mark.parametrize("how", ["421 X-Leader-URL", "member list leader"])
def test_http_hint_under_tls_is_asked_over_verified_https(fba: Fba, tls_node: Node, servers: Servers, how: str) -> None:
    """A hint that names the real leader with the wrong scheme: the leader is asked over https
    (verified against the CA), re-checked with its own list, and the join completes there."""
    leader = tls_node.leader(host=PEER_HOST)
    http_hint = leader.url.replace("https://", "http://")
    follower = servers.start("follower", tls=tls_node.tls)
    if how == "421 X-Leader-URL":
        answer = Answer(421, {"error": "not the leader"}, {"X-Leader-URL": http_hint})
    else:
        view = tls_node.clusters["chainfire"].view()
        answer = Answer(200, {**view, "leader": {"id": "leader0", "api_url": http_hint}})
    follower.script("GET", "/admin/members", answer, repeat_last=True)
    fba.write_config(tls_node.config(leader_url=follower.url, services={"chainfire": {"leader_url": follower.url}}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(posts(leader)) == 1 and posts(follower) == []
    assert [r.path for r in leader.admin_requests()][0] == "/admin/members"  # re-checked before the add
    assert_marker(fba.marker(JOINED), ME)


@pytest.mark.parametrize("labelled", [True, False], ids=["service-field", "by-raft-port"])
def test_member_list_of_another_service_is_refused(fba: Fba, node: Node, labelled: bool) -> None:
    """flaredb's configured leader answers chainfire's list (with `service`, or only its
    members' Raft ports to tell): not taken as flaredb's, nothing added."""
    wrong = node.leader("flaredb")
    body: dict[str, Any] = {
        "members": [{"id": "node01", "raft_addr": "127.0.0.9:2380", "api_url": wrong.url}],
        "leader": {"id": "node01", "api_url": wrong.url},
        "has_quorum": True,
        "change_in_flight": False,
    }
    if labelled:
        body["service"] = "chainfire"
    wrong.script("GET", "/admin/members", Answer(200, body), repeat_last=True)
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*FLAREDB_JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "another service's member list", result.last
    assert "a member list of chainfire, not flaredb" in said(result.last), result.last
    assert posts(wrong) == [] and markers_in(fba.state_dir) == []


def test_wrong_service_candidate_is_set_aside_and_a_peer_of_the_right_service_used(fba: Fba, node: Node) -> None:
    wrong = node.leader("flaredb")
    wrong.script("GET", "/admin/members", Answer(200, {**node.clusters["chainfire"].view(), "service": "chainfire"}))
    peer = node.peer("flaredb", cluster=node.clusters["flaredb"])  # an initial_peers host, flaredb's port
    fba.write_config(node.config(initial_peers=[f"{PEER_HOST}:2380"]))

    result = fba.run(*FLAREDB_JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert posts(wrong) == [] and len(posts(peer)) == 1
    assert node.chainfire.admin_requests() == []  # chainfire's API is never asked for flaredb's list


def test_hint_to_another_services_port_is_refused(fba: Fba, node: Node) -> None:
    """A flaredb follower's 421 names chainfire's API port: never asked for flaredb's list."""
    follower = node.leader("flaredb")
    view = node.clusters["flaredb"].view()
    follower.script("GET", "/admin/members", Answer(200, {**view, "leader": None}), repeat_last=True)
    chainfire_api = f"http://127.0.0.1:{node.chainfire.port}"
    follower.script(
        "POST",
        "/admin/member/add",
        Answer(421, {"error": "not the leader"}, {"X-Leader-URL": chainfire_api}),
        repeat_last=True,
    )
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*FLAREDB_JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert node.chainfire.admin_requests() == []
    assert result.with_message("that is chainfire's API port", "WARN")


@pytest.mark.parametrize("answer", ["no quorum", "no leader"])
def test_candidate_without_quorum_or_leader_is_set_aside_and_others_tried(
    fba: Fba, node: Node, servers: Servers, answer: str
) -> None:
    stuck = servers.start("stuck")
    body: dict[str, Any] = {"members": [], "leader": None, "has_quorum": False, "change_in_flight": False}
    if answer == "no quorum":
        body["leader"] = {"id": "stuck", "api_url": stuck.url}
    stuck.script("GET", "/admin/members", Answer(200, body), repeat_last=True)
    leader = node.leader()
    fba.write_config(
        node.config(
            leader_url=stuck.url,
            services={"chainfire": {"leader_url": stuck.url}},
            discovery={"peer_urls": [leader.url]},
        )
    )

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert posts(stuck) == [] and len(posts(leader)) == 1
    assert result.with_message(f"reports {answer}", "WARN")


def test_a_stuck_candidate_is_asked_with_a_growing_pause_and_few_requests_a_second(
    fba: Fba, node: Node, servers: Servers
) -> None:
    stuck = servers.start("stuck")
    body = {"members": [], "leader": {"id": "s", "api_url": stuck.url}, "has_quorum": False, "change_in_flight": False}
    stuck.script("GET", "/admin/members", Answer(200, body), repeat_last=True)
    join = {"retry_delay_s": 0.1, "max_retry_delay_s": 0.8, "deadline_s": 3}
    fba.write_config(node.config(leader_url=stuck.url, services={"chainfire": {"leader_url": stuck.url}}, join=join))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED and cause(result.last) == "no quorum", result.describe()
    # 3 s at the per-peer cap of 4/s would be 12 requests; the doubling pause
    # (0.1, 0.2, 0.4, 0.8, 0.8, ...) leaves about 6.
    assert len(stuck.requests) <= 8, [round(r.at - stuck.requests[0].at, 2) for r in stuck.requests]


# E. Only a final read proves membership ----------------------------------------------------


def test_listed_without_quorum_and_change_in_flight_is_not_joined(fba: Fba, node: Node) -> None:
    """The shared `uncommitted` case: after a 201 the list shows us, but says no quorum and a
    change in flight, for ever. The join waits for a settled list, then fails with that cause."""
    node.clusters["chainfire"] = SettlingCluster(
        unsettled_reads=-1, unsettled={"has_quorum": False, "change_in_flight": True}
    )
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert said(result.last).startswith("listed but not committed: no quorum"), result.last
    assert len(posts(leader)) == 1, "a second add was sent"
    assert markers_in(fba.state_dir) == []


@pytest.mark.parametrize(
    ("unsettled", "learner", "said"),
    [
        ({"has_quorum": False}, False, "no quorum"),
        ({"change_in_flight": True}, False, "a membership change in flight"),
        ({"committed": False}, False, "the answer says the change is not committed"),
        ({}, True, "listed as a learner"),
    ],
    ids=["quorum-lost-after-add", "change-in-flight", "committed-false", "learner"],
)
def test_membership_is_proven_only_once_the_list_settles(
    fba: Fba, node: Node, unsettled: dict[str, Any], learner: bool, said: str
) -> None:
    node.clusters["chainfire"] = SettlingCluster(unsettled_reads=3, unsettled=unsettled, learner=learner)
    leader = node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    waits = result.with_message("listed, but membership not proven yet")
    assert len(waits) == 3 and said in str(waits[0]), result.describe()
    assert len(posts(leader)) == 1
    assert_marker(fba.marker(JOINED), ME)


def test_already_listed_but_unsettled_is_not_a_membership(fba: Fba, node: Node) -> None:
    cluster = node.clusters["chainfire"]
    cluster.has_quorum = False
    cluster.add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 1.5}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert posts(leader) == [] and markers_in(fba.state_dir) == []


@pytest.mark.parametrize("accepted", [201, 409])
def test_an_accepted_add_the_list_never_shows_is_not_resent_in_a_storm(fba: Fba, node: Node, accepted: int) -> None:
    """The add is accepted (201, or 409 "already a member" with our own Raft address) but the
    leader's list never shows us: fba keeps reading with the join's backoff, sends the add at
    most once per attempt, and fails at the deadline without a marker."""
    cluster = node.clusters["chainfire"]
    leader = node.leader()
    without_us = cluster.view()
    if accepted == 409:
        cluster.add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    leader.script("GET", "/admin/members", Answer(200, without_us), repeat_last=True)
    join = {"max_attempts": 3, "retry_delay_s": 0.4, "max_retry_delay_s": 0.8, "deadline_s": 4}
    fba.write_config(node.config(join=join))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "verifying membership", result.last
    adds = posts(leader)
    assert 1 <= len(adds) <= join["max_attempts"], f"{len(adds)} adds"
    assert adds[0].status == accepted and {r.status for r in adds} <= {201, 409}
    # Reads back off from 0.4 s to 0.8 s: about 6 in 4 s (16 at the 4/s per-peer cap).
    assert len(leader.requests_to("GET", "/admin/members")) <= 9, result.describe()
    assert markers_in(fba.state_dir) == []


@pytest.mark.parametrize(
    "body",
    [
        {"members": [None, 5, "x"], "has_quorum": True, "change_in_flight": False},
        {"members": [], "service": 7, "has_quorum": True, "change_in_flight": False},
        {"members": [{"id": NODE_ID}], "has_quorum": True, "change_in_flight": False},
    ],
    ids=["non-object-members", "service-not-a-string", "member-without-raft-addr"],
)
def test_a_member_list_with_bad_entries_is_a_bad_answer(fba: Fba, node: Node, servers: Servers, body: Any) -> None:
    """A list whose members are not member objects, or whose `service` is not a string, is not a
    list that lacks us: the candidate is set aside (cause `bad response`) and nothing is added."""
    odd = servers.start("odd")
    odd.script("GET", "/admin/members", Answer(200, body), repeat_last=True)
    where = {"leader_url": odd.url, "services": {"chainfire": {"leader_url": odd.url}}}
    fba.write_config(node.config(**where, join={"deadline_s": 1.5}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "bad response", result.last
    assert posts(odd) == [] and result.with_message("Leader candidate set aside")
    assert markers_in(fba.state_dir) == []


# F. Markers say for whom they were written -------------------------------------------------


FOREIGN = {
    "other-cluster": MarkerIdentity(NODE_ID, "lab1", RAFT_ADDR),
    "other-node": MarkerIdentity("node09", "testcluster", RAFT_ADDR),
    "other-raft-addr": MarkerIdentity(NODE_ID, "testcluster", "127.0.0.7:2380"),
}


@pytest.mark.parametrize("whose", ["old-format", *FOREIGN])
def test_cloned_disk_joins_as_the_new_node(fba: Fba, node: Node, whose: str) -> None:
    """The shared `clone` case and its kin: a marker of fba before identities, or one naming
    another cluster, node or Raft address. The leader does not list this node, so it joins as
    itself and the marker is re-written for it."""
    leader = node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    if whose == "old-format":
        write_old_marker(fba.marker(JOINED))
    else:
        write_marker(fba.marker(JOINED), FOREIGN[whose])

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(posts(leader)) == 1
    assert result.with_message(f"not trusted, set aside as {foreign_name(JOINED)}: joining as node04", "WARN")
    assert_marker(fba.marker(JOINED), ME)
    assert fba.marker(foreign_name(JOINED)).exists(), "the refuted marker is kept, aside (break 10, G5)"


def test_foreign_marker_confirmed_by_the_leader_is_rewritten_for_this_node(fba: Fba, node: Node) -> None:
    """The cluster was renamed in the config: the leader lists us, so the marker is true; it is
    re-written with this node's identity (same timestamp) and nothing is added."""
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    leader = node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    write_marker(fba.marker(JOINED), FOREIGN["other-cluster"], stamp="2026-10-01T08:00:00+00:00")

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert posts(leader) == []
    assert assert_marker(fba.marker(JOINED), ME).isoformat() == "2026-10-01T08:00:00+00:00"


def test_unverifiable_marker_is_trusted_with_a_warn_when_no_leader_answers(fba: Fba, node: Node) -> None:
    """A reboot must not depend on the leader: a marker that names nobody (the design's manual
    `date -Iseconds > marker`) is kept as it is when nobody answers."""
    closed = f"http://127.0.0.1:{free_port()}"
    fba.write_config(node.config(leader_url=closed, services={"chainfire": {"leader_url": closed}}))
    fba.state_dir.mkdir(mode=0o700)
    marker = fba.marker(JOINED)
    text = write_old_marker(marker)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert result.with_message("no leader could confirm it; trusting it", "WARN")
    assert marker.read_text() == text
    assert result.elapsed_s < 10  # bounded by about two request timeouts, not the join deadline


def test_a_marker_naming_another_node_is_not_done_while_the_leaders_list_is_unsettled(fba: Fba, node: Node) -> None:
    """Break 12, K14: the leader lists this node, but without quorum: a marker naming another
    cluster is not "trusted for now" (exit 2 on the clone's word); the join waits for a settled
    list as for any join, and ends by its deadline (exit 1) while the list stays unsettled."""
    cluster = node.clusters["chainfire"]
    cluster.add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    cluster.has_quorum = False
    node.leader()
    fba.write_config(
        node.config(join={"max_attempts": 2, "retry_delay_s": 0.1, "deadline_s": 4, "request_timeout_s": 1})
    )
    fba.state_dir.mkdir(mode=0o700)
    write_marker(fba.marker(JOINED), FOREIGN["other-cluster"])

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert not result.with_message("trusting it for now", "WARN")


@pytest.mark.parametrize("whose", list(FOREIGN))
def test_a_marker_naming_another_node_is_never_done_when_no_leader_answers(fba: Fba, node: Node, whose: str) -> None:
    """Break 12, K14: a cloned disk's marker names another node, cluster or Raft address; it is
    not from this node's earlier boot, so "a reboot must not depend on the leader" does not
    apply. No leader answering, the join runs as this node and fails (exit 1, systemd retries);
    the marker is kept as it is (nobody refuted it) and never counts as done."""
    closed = f"http://127.0.0.1:{free_port()}"
    fba.write_config(
        node.config(
            leader_url=closed,
            services={"chainfire": {"leader_url": closed}},
            join={"max_attempts": 2, "retry_delay_s": 0.1, "deadline_s": 5, "request_timeout_s": 1},
        )
    )
    fba.state_dir.mkdir(mode=0o700)
    marker = fba.marker(JOINED)
    text = write_marker(marker, FOREIGN[whose])

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.with_message("not this node's; not trusted without a leader's word", "WARN")
    assert not result.with_message("trusting it", "WARN")
    assert marker.read_text() == text


def test_own_marker_means_no_request_at_all(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    write_marker(fba.marker(JOINED), ME)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert leader.requests == [] and node.chainfire.requests == []


# E, for leave: a 200 to the DELETE is not a proof ------------------------------------------


@pytest.mark.parametrize("settles", [True, False])
def test_leave_drops_markers_only_once_the_list_proves_the_member_gone(fba: Fba, node: Node, settles: bool) -> None:
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 2}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    view = node.clusters["chainfire"].view()  # still lists us
    # (the first read is the leave's own check before its DELETE: `leave._judge_before_leaving`)
    stale = [Answer(200, view)] * 3 if settles else [Answer(200, {**view, "change_in_flight": True})]
    leader.script("GET", "/admin/members", *stale, repeat_last=not settles)

    result = fba.run("leave", "--service", "chainfire")

    if settles:
        assert result.rc == ExitCode.OK, result.describe()
        assert len(result.with_message("Waiting: removal not proven yet")) == 2
        assert markers_in(fba.state_dir) == []
    else:
        assert result.rc == ExitCode.FAILED, result.describe()
        failed = result.levels("ERROR")[-1]
        assert said(failed).startswith("removal not confirmed: node04 still listed"), failed
        # The DELETE was taken (200): the marker stays set aside, for the join to re-derive.
        assert markers_in(fba.state_dir) == [leaving_name(JOINED)]


@pytest.mark.parametrize(
    ("delete", "lists_us"),
    [
        (Answer(404, {"error": f"not a member: {NODE_ID}"}), True),  # a lagging node
        (Answer(410, {"error": "gone"}), True),
        (Answer(400, {"error": f"{NODE_ID} is not a member"}), True),
        (Answer(404, {"error": f"not a member: {NODE_ID}"}), False),
    ],
    ids=["404-still-listed", "410-still-listed", "400-not-a-member-still-listed", "404-proven"],
)
def test_leave_takes_not_a_member_only_from_the_leaders_list(
    fba: Fba, node: Node, delete: Answer, lists_us: bool
) -> None:
    """A "not a member" answer to the DELETE (a lagging node, a proxy) is a claim: the leader's
    list is read, and the markers go only when it does not list us."""
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 2}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    if not lists_us:
        node.clusters["chainfire"].remove(NODE_ID)
    leader.script("DELETE", f"/admin/member/{NODE_ID}", delete, repeat_last=True)

    result = fba.run("leave", "--service", "chainfire")

    assert leader.requests_to("GET", "/admin/members"), "the claim was taken without a read"
    if lists_us:
        assert result.rc == ExitCode.FAILED, result.describe()
        failed = result.levels("ERROR")[-1]
        assert said(failed).startswith("removal not confirmed: "), failed
        assert "still listed" in said(failed), failed
        assert markers_in(fba.state_dir) == [JOINED]  # the DELETE was refused: the marker is back
        assert result.with_message("Markers restored", "INFO")
        assert len(leader.requests_to("DELETE", f"/admin/member/{NODE_ID}")) == 1
    else:
        assert result.rc == ExitCode.ALREADY_DONE, result.describe()
        assert markers_in(fba.state_dir) == []


@pytest.mark.parametrize("leader_lists_us", [True, False, None], ids=["listed", "gone", "no-leader-answers"])
def test_leave_through_a_proxy_that_answers_404_reads_the_leader(
    fba: Fba, node: Node, servers: Servers, leader_lists_us: bool | None
) -> None:
    """The configured leader URL is a proxy that answers 404 to every /admin path. The DELETE's
    404 is no proof; the proxy's list is unreadable, so the other candidates are asked. The
    leader that still lists us gets the DELETE itself (break 8) and its list then proves the
    removal; no readable list within the deadline: the markers stay."""
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 2}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    proxy = servers.start("proxy")  # no cluster: 404 "no such endpoint" for every /admin path
    peers = [leader.url] if leader_lists_us is not None else []
    if leader_lists_us is False:
        node.clusters["chainfire"].remove(NODE_ID)
    config = node.config(
        leader_url=proxy.url,
        services={"chainfire": {"leader_url": proxy.url}},
        discovery={"peer_urls": peers},
        join={"deadline_s": 1.5},
    )
    fba.write_config(config)

    result = fba.run("leave", "--service", "chainfire")

    assert [r.status for r in proxy.requests_to("DELETE", f"/admin/member/{NODE_ID}")] == [404]
    if leader_lists_us is False:
        assert result.rc == ExitCode.ALREADY_DONE, result.describe()
        assert markers_in(fba.state_dir) == []
        return
    if leader_lists_us:
        assert result.rc == ExitCode.OK, result.describe()
        assert [r.status for r in leader.requests_to("DELETE", f"/admin/member/{NODE_ID}")] == [200]
        assert markers_in(fba.state_dir) == []
        return
    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.levels("ERROR")[-1]) == "removal not confirmed", result.describe()
    assert markers_in(fba.state_dir) == [JOINED]  # only a 404 answered: the marker is back


def test_leave_takes_no_proof_from_a_list_it_cannot_read_or_that_names_another_leader(
    fba: Fba, node: Node, servers: Servers
) -> None:
    """The node that took the DELETE answers a list with junk members, then one without us that
    names another leader, which still lists us: neither is a proof. The leader that still lists
    us gets the DELETE itself (the one that took it may not have committed it: break 8), and
    only its list, once it no longer lists us, lets the markers go."""
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 2}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    old = servers.start("old-leader")
    old.script("DELETE", f"/admin/member/{NODE_ID}", Answer(200, {"removed": {"id": NODE_ID}, "members": []}))
    junk = {"members": [None, 5, "x"], "leader": None, "has_quorum": True, "change_in_flight": False}
    elsewhere = {"members": [], "leader": {"id": "leader0", "api_url": leader.url}, "has_quorum": True}
    # (junk twice: the leave's own check before its DELETE reads one)
    old.script("GET", "/admin/members", Answer(200, junk), Answer(200, junk), Answer(200, elsewhere), repeat_last=True)
    where = {"leader_url": old.url, "services": {"chainfire": {"leader_url": old.url}}}
    fba.write_config(node.config(**where, join={"deadline_s": 1.5}))

    leader.script("DELETE", f"/admin/member/{NODE_ID}", Answer(503, {"error": "busy"}), repeat_last=True)
    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.FAILED, result.describe()
    failed = result.levels("ERROR")[-1]
    assert said(failed).startswith("removal not confirmed: "), failed
    assert leader.requests_to("GET", "/admin/members"), "the list naming the leader was taken as proof"
    assert len(leader.requests_to("DELETE", f"/admin/member/{NODE_ID}")) == 1  # sent again there, once
    # The old leader took the DELETE (200): the marker stays set aside, not trusted.
    assert markers_in(fba.state_dir) == [leaving_name(JOINED)]

    leader.clear()
    leader.script("DELETE", f"/admin/member/{NODE_ID}", repeat_last=False)  # the fake's own removal again
    again = fba.run("leave", "--service", "chainfire")
    assert again.rc == ExitCode.OK, again.describe()
    assert [r.status for r in leader.requests_to("DELETE", f"/admin/member/{NODE_ID}")] == [200]
    assert markers_in(fba.state_dir) == []


# Beyond the cases: shapes from public trackers (docs/failure-kinds-join.md lists the sources) --


@pytest.mark.parametrize(
    "answer",
    [
        Answer(500, {"error": "No cluster leader"}),  # Consul during an election
        Answer(503, {"error": "etcdserver: no leader"}),
        Answer(200, {"members": [], "leader": {"id": "", "api_url": ""}}),  # an empty leader, quorum unsaid
    ],
    ids=["consul-500-no-cluster-leader", "503-no-leader", "empty-leader"],
)
def test_an_election_does_not_use_up_the_attempts(fba: Fba, node: Node, servers: Servers, answer: Answer) -> None:
    """Both candidates are leaderless for a while (more answers than max_attempts): the join
    waits within its deadline, asking both, and joins once a leader answers."""
    leader = node.leader()
    leader.script("GET", "/admin/members", *[answer] * 4)  # then the real list
    other = servers.start("other")
    other.script("GET", "/admin/members", answer, repeat_last=True)
    fba.write_config(node.config(discovery={"peer_urls": [other.url]}, join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(posts(leader)) == 1 and other.requests


def test_a_followers_list_is_no_proof_when_it_names_another_leader(fba: Fba, node: Node, servers: Servers) -> None:
    """etcd served member lists from a node's local, possibly stale or not yet committed state:
    a follower that lists us while naming another leader proves nothing; the leader's list does."""
    leader = node.leader()
    follower = servers.start("follower")
    view = node.clusters["chainfire"].view()
    ahead = {**view, "members": [*view["members"], {"id": NODE_ID, "raft_addr": RAFT_ADDR, "api_url": ""}]}
    follower.script("GET", "/admin/members", Answer(200, ahead), repeat_last=True)
    fba.write_config(node.config(leader_url=follower.url, services={"chainfire": {"leader_url": follower.url}}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(posts(leader)) == 1, "the follower's list was taken as proof"
    assert_marker(fba.marker(JOINED), ME)


# F, the other readers of markers -------------------------------------------------------------


def test_iam_marker_of_another_node_reruns_the_setup_as_this_node(fba: Fba, node: Node) -> None:
    """A cloned disk's `.iam-initialized` (and credentials) are another node's: the set-up runs
    again and issues this node's token; the marker then names this node."""
    node.write_token()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    write_marker(fba.marker(IAM_INITIALIZED), FOREIGN["other-node"])

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.OK, result.describe()
    assert result.with_message("not trusted, running IAM setup as this node", "WARN")
    assert any(r.path != "/health" for r in node.iam.requests)
    assert_marker(fba.marker(IAM_INITIALIZED), ME)


def test_require_joined_refuses_a_prerequisite_marker_naming_another_node_when_no_leader_answers(
    fba: Fba, node: Node
) -> None:
    """Break 12, K14: chainfire's leader does not answer, and chainfire's marker names another
    cluster (a cloned disk): it is not this node's, so flaredb's join waits (exit 1)."""
    flaredb = node.leader("flaredb")
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    write_marker(fba.marker(JOINED), FOREIGN["other-cluster"])

    result = fba.run(*FLAREDB_JOIN, "--require-joined", "chainfire")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "prerequisite not joined yet", result.describe()
    assert posts(flaredb) == []


def test_health_report_probes_http_peer_urls_over_https_under_tls(fba: Fba, tls_node: Node) -> None:
    """Kind D beyond join: a `discovery.peer_urls` entry written http:// is probed over https
    (verified) when tls.enabled, never in clear text; chainfire's list is checked to be its own."""
    tls_node.serve_members()
    tls_node.list_self()
    tls_node.leader("chainfire")  # membership is read from the leader's list (break 9)
    peer = tls_node.peer("chainfire")
    plain = f"http://{PEER_HOST}:{peer.port}"
    fba.write_config(tls_node.config(discovery={"peer_urls": [plain]}))

    result = fba.run("health-report")

    summaries = [line["context"]["summary"] for line in result.lines if "summary" in line.get("context", {})]
    checks = {c["name"]: c for summary in summaries for c in summary["checks"]}
    probe = checks[f"chainfire:peer:{PEER_HOST}"]
    assert probe["ok"] and probe["detail"].startswith(f"https://{PEER_HOST}:{peer.port}/health"), probe
    assert checks["chainfire:member"]["ok"], checks["chainfire:member"]
