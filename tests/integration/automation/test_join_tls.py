"""`fba join` over TLS: a test CA, a wrong CA, insecure_skip_verify, mTLS."""

from __future__ import annotations

from pathlib import Path

from automation.spec.exitcodes import ExitCode

from .conftest import NODE_ID, Fba, Node, Servers, cause
from .expect import JOINED, assert_marker, markers_in
from .fakes import Pki, ServerTls

JOIN = ("join", "--service", "chainfire")


def test_tls_with_the_test_ca_joins(fba: Fba, tls_node: Node) -> None:
    leader = tls_node.leader()
    assert leader.url.startswith("https://")
    fba.write_config(tls_node.config())

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(JOINED))
    assert tls_node.clusters["chainfire"].member_ids().count(NODE_ID) == 1
    assert not result.with_message("TLS verification disabled")


def test_leader_signed_by_another_ca_fails_naming_the_ca(
    fba: Fba, servers: Servers, tmp_path: Path, pki: Pki, other_pki: Pki
) -> None:
    # The local service's certificate is from the CA we trust (B); the leader's is from A.
    node = Node(servers, tmp_path, tls=ServerTls(other_pki))
    node.leader(tls=ServerTls(pki))
    fba.write_config(node.config(tls={"ca_cert_path": str(other_pki.ca_cert)}, join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert cause(result.last) == "TLS verification failed"
    assert "CN=fba test CA B" in result.stdout  # the CA we verified against is named
    # The issue: "a failed join ends with one named cause ... TLS verification failed
    # (naming the CA subject) in its last log line".
    assert "CN=fba test CA B" in str(result.last), result.last
    assert markers_in(fba.state_dir) == []
    assert node.leaders["chainfire"].admin_requests() == []  # no request got through the handshake


def test_insecure_skip_verify_joins_with_a_warn_per_request(fba: Fba, tls_node: Node, other_pki: Pki) -> None:
    leader = tls_node.leader()
    # Trusting nothing that signed these servers: only skipping verification can work.
    fba.write_config(tls_node.config(tls={"ca_cert_path": None, "insecure_skip_verify": True}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    warns = result.with_message("TLS verification disabled", "WARN")
    requests = len(leader.requests) + len(tls_node.chainfire.requests)
    assert requests >= 4  # health, list, add, list
    assert len(warns) == requests


def test_mtls_with_node_cert_joins(fba: Fba, servers: Servers, tmp_path: Path, pki: Pki) -> None:
    node = Node(servers, tmp_path, tls=ServerTls(pki, require_client_cert=True))
    leader = node.leader()
    fba.write_config(node.config(tls={"node_cert_path": str(pki.client_cert), "node_key_path": str(pki.client_key)}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert len(leader.requests_to("POST", "/admin/member/add")) == 1
    assert_marker(fba.marker(JOINED))


def test_mtls_without_client_cert_fails(fba: Fba, servers: Servers, tmp_path: Path, pki: Pki) -> None:
    node = Node(servers, tmp_path, tls=ServerTls(pki))
    node.leader(tls=ServerTls(pki, require_client_cert=True))
    fba.write_config(node.config(join={"max_attempts": 2}))

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert result.last["level"] == "ERROR" and cause(result.last)
    assert markers_in(fba.state_dir) == []
