"""Kind B: one deadline per request. A peer that trickles, stalls or never accepts cannot
stretch any command past its budget plus one request, and the cause names the phase and URL.

Upper bounds on elapsed time here are "does not hang" bounds (budget + one request + process
start-up slack), never speed measurements.
"""

from __future__ import annotations

from typing import Any

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, Node, PeerFactory, cause
from .expect import markers_in
from .rawpeers import answer, silent, trickle_body, trickle_chunked, trickle_headers

JOIN = ("join", "--service", "chainfire")
SLACK_S = 8.0  # start-up on a loaded 2-core machine (load 20: ~5 s); a trickle would take 45 s and more



def _join_config(node: Node, url: str, **join: Any) -> dict[str, Any]:
    return node.config(leader_url=url, services={"chainfire": {"leader_url": url}}, join=join)


def test_trickling_member_list_ends_the_join_by_its_deadline(fba: Fba, node: Node, raw_peer: PeerFactory) -> None:
    """The shared `trickle` case, scaled down: 45 bytes at one per second, deadline 4 s."""
    peer = raw_peer(trickle_body(45, 1.0))
    fba.write_config(
        _join_config(
            node, peer.url, max_attempts=5, retry_delay_s=0.2, max_retry_delay_s=1, deadline_s=4, request_timeout_s=2
        )
    )

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.elapsed_s < 4 + 1 + SLACK_S, result.describe()
    assert cause(result.last) == "body timed out"
    assert f"{peer.url}/admin/members" in result.last["message"]
    assert markers_in(fba.state_dir) == []


def test_trickling_headers_name_the_headers_phase(fba: Fba, node: Node, raw_peer: PeerFactory) -> None:
    peer = raw_peer(trickle_headers(0.2))
    fba.write_config(_join_config(node, peer.url, max_attempts=2, deadline_s=3, request_timeout_s=1))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.elapsed_s < 3 + SLACK_S
    assert cause(result.last) == "headers timed out"


def test_peer_that_never_accepts_names_the_connect_phase(fba: Fba, node: Node, raw_peer: PeerFactory) -> None:
    peer = raw_peer(accept=False)
    fba.write_config(_join_config(node, peer.url, max_attempts=2, deadline_s=3, request_timeout_s=0.5))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.elapsed_s < 3 + SLACK_S
    assert cause(result.last) == "connect timed out"
    assert peer.url in result.last["message"]


def test_silent_tls_peer_names_the_handshake(fba: Fba, tls_node: Node, raw_peer: PeerFactory) -> None:
    peer = raw_peer(silent())
    url = peer.url.replace("http://", "https://")
    fba.write_config(_join_config(tls_node, url, max_attempts=2, deadline_s=3, request_timeout_s=0.5))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "TLS handshake timed out"
    assert url in result.last["message"]


def test_wait_healthy_against_a_trickling_health_returns_by_its_timeout(fba: Fba, raw_peer: PeerFactory) -> None:
    """The issue's own example: `wait-healthy --url ... --timeout 3` returns within ~4 s, exit 1."""
    peer = raw_peer(trickle_body(100, 0.5))

    result = fba.run("wait-healthy", "--url", f"{peer.url}/health", "--timeout", "3", global_paths=False)

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert result.elapsed_s < 4 + SLACK_S, result.describe()
    assert result.last["message"] == "Health check timeout"
    assert cause(result.last) == "health check timeout"
    assert result.last["context"]["last_cause"] == "body timed out"
    assert f"{peer.url}/health" in result.last["context"]["last"]


def test_iam_setup_against_a_stalled_iam_is_bounded(fba: Fba, node: Node, raw_peer: PeerFactory) -> None:
    node.write_token()
    peer = raw_peer(answer(200), silent())  # healthy, then every IAM request stalls
    fba.write_config(
        node.config(
            services={"iam": {"api_port": peer.port}},
            join={"deadline_s": 2, "request_timeout_s": 0.5, "max_attempts": 10},
        )
    )

    result = fba.run("iam-setup")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.elapsed_s < 2 + SLACK_S, result.describe()
    assert cause(result.last) == "headers timed out"
    assert f"{peer.url}/users" in result.last["message"]


def test_leave_against_a_trickling_leader_is_bounded(fba: Fba, node: Node, raw_peer: PeerFactory) -> None:
    peer = raw_peer(trickle_body(45, 0.5))
    fba.write_config(_join_config(node, peer.url, max_attempts=10, deadline_s=2, request_timeout_s=0.5))

    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.elapsed_s < 2 + SLACK_S, result.describe()
    assert cause(result.last) == "body timed out"


def test_health_report_with_a_trickling_local_service_is_bounded(fba: Fba, node: Node, raw_peer: PeerFactory) -> None:
    node.serve_members()
    node.list_self()
    node.leader("chainfire")  # membership is read from the leader's list (break 9)
    peer = raw_peer(trickle_body(100, 0.5))  # local chainfire: /health and /admin/members trickle
    fba.write_config(node.config(services={"chainfire": {"api_port": peer.port}}))

    result = fba.run("health-report")

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert result.elapsed_s < 2 * 3 + SLACK_S, result.describe()  # two probes of 3 s each
    summary = next(line["context"]["summary"] for line in result.lines if "summary" in line.get("context", {}))
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["chainfire:local"]["detail"] == f"{peer.url}/health: body timed out"
    assert result.with_message(f"{peer.url}/admin/members: body timed out", "WARN"), result.describe()


def test_wait_healthy_against_an_endless_chunked_body_is_bounded(fba: Fba, raw_peer: PeerFactory) -> None:
    """A chunked body never ends by itself; only the whole-request deadline ends it."""
    peer = raw_peer(trickle_chunked(0.2))

    result = fba.run("wait-healthy", "--url", f"{peer.url}/health", "--timeout", "2", global_paths=False)

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert result.elapsed_s < 3 + SLACK_S, result.describe()
    assert result.last["context"]["last_cause"] == "body timed out"
