"""`fba health-report`: one JSON summary; membership, peers, stale members, webhook, metrics."""

from __future__ import annotations

import re
from pathlib import Path

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers
from .expect import assert_no_secret
from .fakes import Answer, Cluster, free_port
from .reports import healthy_node, one_node_cluster, summary_of

NOTIFY_TOKEN = "notify-secret-7c1e9f0a2b"


def test_all_healthy_exits_0_with_one_summary_line(fba: Fba, node: Node) -> None:
    peers = healthy_node(node)
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.HEALTHY, result.describe()
    assert len(result.lines) == 1
    summary = summary_of(result)
    assert summary["healthy"] is True and summary["failed"] == [] and summary["stale_members"] == []
    assert summary["node_id"] == NODE_ID
    names = {c["name"] for c in summary["checks"]}
    assert {"chainfire:local", "flaredb:local", "iam:local", "chainfire:member", "flaredb:member"} <= names
    assert {"chainfire:peer:127.0.0.2", "flaredb:peer:127.0.0.2", "iam:peer:127.0.0.2"} <= names
    for peer in peers.values():
        assert peer.requests_to("GET", "/health")


def test_a_one_node_cluster_seeded_from_its_name_is_healthy(fba: Fba, node: Node) -> None:
    """`initial_peers: ["node04:2380"]` (the design's form): the service lists this member as
    written, `node04:2380`, not as the configured IPv4 address; that is this node, not a
    conflict (the VM tier's one-node PXE cluster failed here)."""
    one_node_cluster(fba, node)

    result = fba.run("health-report")

    assert result.rc == ExitCode.HEALTHY, result.describe()
    assert summary_of(result)["failed"] == []


def test_node_missing_from_member_list_is_degraded(fba: Fba, node: Node) -> None:
    healthy_node(node)
    node.clusters["flaredb"].members.pop(NODE_ID)
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert summary["failed"] == ["flaredb:member"]
    assert result.last["level"] == "WARN"


def test_peer_down_is_degraded_and_named(fba: Fba, node: Node) -> None:
    peers = healthy_node(node)
    peers["iam"].close()
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert summary_of(result)["failed"] == ["iam:peer:127.0.0.2"]


def test_listed_member_that_never_came_up_is_stale(fba: Fba, node: Node) -> None:
    healthy_node(node)
    node.clusters["chainfire"].add_member("node09", "127.0.0.1:2389", f"http://127.0.0.1:{free_port()}")
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"]))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert summary["stale_members"] == ["stale-member:chainfire:node09"]
    detail = next(c["detail"] for c in summary["checks"] if c["name"] == "stale-member:chainfire:node09")
    assert "fba leave --service chainfire --member node09" in detail


def test_webhook_gets_the_summary_with_bearer_token_never_printed(fba: Fba, node: Node, servers: Servers) -> None:
    healthy_node(node)
    hook = servers.start("provisioning-server")
    hook.script("POST", "/notify", Answer(500, {"error": "try again"}), Answer(204), repeat_last=True)
    fba.write_config(
        node.config(
            initial_peers=["127.0.0.2:2380"],
            notify_url=f"{hook.url}/notify",
            notify_token=NOTIFY_TOKEN,
            notify_attempts=3,
        )
    )

    result = fba.run("health-report")

    assert result.rc == ExitCode.HEALTHY, result.describe()
    posts = hook.requests_to("POST", "/notify")
    assert [p.status for p in posts] == [500, 204]
    assert posts[-1].headers["authorization"] == f"Bearer {NOTIFY_TOKEN}"
    body = posts[-1].body
    assert isinstance(body, dict) and body["healthy"] is True and body["node_id"] == NODE_ID
    assert result.with_message("Health summary sent")
    assert_no_secret(result.output, NOTIFY_TOKEN)
    assert_no_secret(str(body), NOTIFY_TOKEN)


def test_webhook_down_does_not_change_the_verdict(fba: Fba, node: Node) -> None:
    healthy_node(node)
    fba.write_config(
        node.config(
            initial_peers=["127.0.0.2:2380"],
            notify_url=f"http://127.0.0.1:{free_port()}/notify",
            notify_token=NOTIFY_TOKEN,
            notify_attempts=2,
        )
    )

    result = fba.run("health-report")

    assert result.rc == ExitCode.HEALTHY, result.describe()
    assert result.with_message("Could not send the health summary", "WARN")
    assert_no_secret(result.output, NOTIFY_TOKEN)


def test_prometheus_textfile_written(fba: Fba, node: Node, tmp_path: Path) -> None:
    healthy_node(node)
    node.clusters["chainfire"].add_member("node09", "127.0.0.1:2389", f"http://127.0.0.1:{free_port()}")
    metrics = tmp_path / "textfile" / "fba.prom"
    metrics.parent.mkdir()
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"], prometheus_textfile=str(metrics)))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    text = metrics.read_text()
    assert "fba_cluster_healthy 0" in text.splitlines()
    assert 'fba_check_ok{check="chainfire:member"} 1' in text
    assert 'fba_check_ok{check="stale-member:chainfire:node09"} 0' in text
    assert [p.name for p in metrics.parent.iterdir()] == ["fba.prom"]


def test_a_local_cluster_of_its_own_is_not_membership(fba: Fba, node: Node) -> None:
    """break 9, F1: this node's chainfire and flaredb each formed a one-node cluster of their own
    (listing node04 as leader, with quorum) while the configured cluster's leader does not list
    it. Only the leader's list proves membership (the join's rule); the report said healthy."""
    node.leader("chainfire")
    node.leader("flaredb")
    for service in ("chainfire", "flaredb"):
        own = Cluster(leader_id=NODE_ID, leader_raft_addr=RAFT_ADDR if service == "chainfire" else "127.0.0.1:2480")
        own.set_leader(node.local(service).url)
        node.local(service).cluster, node.local(service).role = own, "follower"
    fba.write_config(node.config())

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert {"chainfire:member", "flaredb:member"} <= set(summary["failed"])
    details = {c["name"]: c["detail"] for c in summary["checks"]}
    assert "leader's list" in details["chainfire:member"] and NODE_ID in details["chainfire:member"]
    # this node's own list is named as disagreeing (a WARN: the leader's list decides)
    assert result.with_message("this node's own member list disagrees with the leader's", "WARN"), result.describe()
    for service in ("chainfire", "flaredb"):
        assert node.leaders[service].requests_to("GET", "/admin/members")


def test_no_peer_list_is_no_proof(fba: Fba, node: Node) -> None:
    """break 9, F1: with no peer or leader answering, this node's own list (which lists it) proves
    nothing; the member check fails and says why."""
    node.serve_members()
    node.list_self()
    fba.write_config(node.config())  # the leader URLs name ports nobody answers on

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert {"chainfire:member", "flaredb:member"} <= set(summary["failed"])
    detail = next(c["detail"] for c in summary["checks"] if c["name"] == "chainfire:member")
    assert "proves nothing" in detail


# One sample line of the text exposition format: a metric name, optional labels whose values
# escape exactly backslash, double quote and line feed, and a value.
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf"^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{{{_LABEL}(?:,{_LABEL})*\}})? -?[0-9]+$")


def _unescaped(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def test_a_peers_member_id_cannot_inject_samples_into_the_textfile(fba: Fba, node: Node, tmp_path: Path) -> None:
    """break 9 (F18): an id `x"} 0\\nfba_cluster_healthy 1\\n# ` added a second
    `fba_cluster_healthy 1` sample for a degraded node. Label values are escaped."""
    healthy_node(node)
    crafted = 'x"} 0\nfba_cluster_healthy 1\n# '
    for member_id in (crafted, "back\\slash", 'q"uote'):
        node.clusters["chainfire"].add_member(member_id, "127.0.0.1:2389", f"http://127.0.0.1:{free_port()}")
    metrics = tmp_path / "fba.prom"
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"], prometheus_textfile=str(metrics)))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    samples = [line for line in metrics.read_text().splitlines() if not line.startswith("#")]
    assert all(_SAMPLE.match(line) for line in samples), samples
    assert [s for s in samples if s.startswith("fba_cluster_healthy")] == ["fba_cluster_healthy 0"]
    labels = [_unescaped(m.group(1)) for m in (re.search(r'check="(.*)"', s) for s in samples) if m]
    for member_id in (crafted, "back\\slash", 'q"uote'):
        assert f"stale-member:chainfire:{member_id}" in labels
    assert len(labels) == len(set(labels))  # one sample per check name


def test_a_textfile_that_cannot_be_written_fails_the_report(fba: Fba, node: Node, tmp_path: Path) -> None:
    """Break 12, K13: the metrics the operator asked for (`prometheus_textfile`) cannot be written
    (under the units' ProtectSystem=strict its directory is read-only; here its parent is a
    file): exit 1 with a failed `metrics` check in the summary, never exit 0 with a WARN."""
    healthy_node(node)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    fba.write_config(node.config(initial_peers=["127.0.0.2:2380"], prometheus_textfile=str(blocker / "fba.prom")))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    summary = summary_of(result)
    assert summary["failed"] == ["metrics"], summary
    assert not result.with_message("Cluster healthy")
    assert result.with_message("Could not write Prometheus textfile", "ERROR")


def test_config_validate_names_a_write_path_the_units_cannot_write(fba: Fba, node: Node) -> None:
    """Break 12, K13: `config validate` says which configured write path the shipped units'
    sandbox leaves read-only, and how to add it; a warning (validate may run elsewhere)."""
    fba.write_config(node.config(prometheus_textfile="/var/lib/node_exporter/textfile_collector/fba.prom"))

    result = fba.run("config", "validate")

    assert result.rc == ExitCode.OK, result.describe()
    assert "warning: prometheus_textfile: /var/lib/node_exporter/textfile_collector/fba.prom" in result.stdout
    assert "ReadWritePaths" in result.stdout
