from __future__ import annotations

import json

import pytest
from cryptography import x509

from automation.spec.config import ClusterConfig
from harness.cluster.topology import Secrets, Topology
from harness.errors import InfrastructureError


def test_default_cluster_is_the_designs_three_bootstrap_nodes() -> None:
    topology = Topology()
    assert [n.name for n in topology.nodes] == ["node01", "node02", "node03"]
    assert [n.ip for n in topology.nodes] == ["10.77.0.11", "10.77.0.12", "10.77.0.13"]
    assert len({n.mac for n in topology.nodes}) == 3


def test_configs_validate_against_the_automation_schema() -> None:
    topology = Topology(join_nodes=2)
    secrets = Secrets()
    for node in topology.nodes:
        files = secrets.node_files(topology, node)
        config = ClusterConfig.model_validate_json(files.config_json)
        assert config.bootstrap is node.bootstrap
        assert config.raft_addr == f"{node.ip}:2380"
        assert config.initial_peers == ["node01:2380", "node02:2380", "node03:2380"]
        assert config.tls.enabled and config.leader_url == "https://node01:2379"
        assert set(files.files) == {"ca.crt", f"{node.name}.crt", f"{node.name}.key", "iam-bootstrap-token"}


def test_node_certificate_names_the_node_and_chains_to_the_ca() -> None:
    topology = Topology()
    secrets = Secrets()
    node = topology.nodes[1]
    files = secrets.node_files(topology, node)
    cert = x509.load_pem_x509_certificate(files.files["node02.crt"])
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "node02" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.77.0.12", "127.0.0.1"]
    ca = x509.load_pem_x509_certificate(files.files["ca.crt"])
    cert.verify_directly_issued_by(ca)


def test_invalid_override_is_an_infrastructure_error() -> None:
    topology = Topology(overrides={"node01": {"raft_addr": "nope"}})
    with pytest.raises(InfrastructureError, match="invalid config for node01"):
        Secrets().node_files(topology, topology.nodes[0])
    # Scenarios that inject a broken config on purpose skip the check.
    raw = Secrets().node_files(topology, topology.nodes[0], validate=False).config_json
    assert json.loads(raw)["raft_addr"] == "nope"


def test_plain_http_cluster() -> None:
    topology = Topology(tls=False)
    files = Secrets().node_files(topology, topology.nodes[0])
    assert set(files.files) == {"iam-bootstrap-token"}
    assert json.loads(files.config_json)["leader_url"] == "http://node01:2379"
