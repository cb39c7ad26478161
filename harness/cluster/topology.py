"""The cluster under test as data: node names, addresses, and each node's injected files.

Default: node01-03 bootstrap the cluster on 10.77.0.0/24 inside the run's own network
namespace (the host side of the bridge is 10.77.0.1); extra nodes (node04, ...) join. Each
node's `cluster-config.json` is validated against the automation's own schema before any VM
boots, so a harness bug surfaces as a clear error here, not as a node that never joins.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automation.spec.config import ClusterConfig
from automation.spec.markers import Service
from harness.cluster.pki import CertificateAuthority
from harness.errors import InfrastructureError

SUBNET_PREFIX = "10.77.0"
BRIDGE_IP = f"{SUBNET_PREFIX}.1"
PREFIX_LEN = 24
SECRETS_DIR = "/etc/nixos/secrets"
CLUSTER_NAME = "fba-test"
BOOTSTRAP_TOKEN_FILE = "iam-bootstrap-token"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    index: int  # 1-based: node01 -> 1
    bootstrap: bool

    @property
    def ip(self) -> str:
        return f"{SUBNET_PREFIX}.{10 + self.index}"

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{PREFIX_LEN}"

    @property
    def mac(self) -> str:
        return f"52:54:00:77:00:{10 + self.index:02x}"


@dataclass(frozen=True)
class Topology:
    bootstrap_nodes: int = 3
    join_nodes: int = 0
    tls: bool = True
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # node -> top-level keys

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        total = self.bootstrap_nodes + self.join_nodes
        if not 1 <= self.bootstrap_nodes <= 9 or total > 40:
            raise InfrastructureError(
                f"topology: 1-9 bootstrap nodes and at most 40 in all, got {self.bootstrap_nodes}+{self.join_nodes}"
            )
        return tuple(NodeSpec(f"node{i:02d}", i, i <= self.bootstrap_nodes) for i in range(1, total + 1))

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise InfrastructureError(f"no node {name!r} in this cluster; nodes: {', '.join(n.name for n in self.nodes)}")

    @property
    def hosts(self) -> dict[str, str]:
        return {n.name: n.ip for n in self.nodes}

    @property
    def leader(self) -> NodeSpec:
        return self.nodes[0]

    def cluster_config(self, node: NodeSpec) -> dict[str, Any]:
        scheme = "https" if self.tls else "http"
        peers = [f"{n.name}:2380" for n in self.nodes if n.bootstrap]
        config: dict[str, Any] = {
            "node_id": node.name,
            "node_role": "control-plane" if node.bootstrap else "worker",
            "bootstrap": node.bootstrap,
            "cluster_name": CLUSTER_NAME,
            "leader_url": f"{scheme}://{self.leader.name}:2379",
            "raft_addr": f"{node.ip}:2380",
            "initial_peers": peers,
            "flaredb_peers": [f"{n.name}:2480" for n in self.nodes if n.bootstrap],
            "iam": {"bootstrap_token_path": f"{SECRETS_DIR}/{BOOTSTRAP_TOKEN_FILE}"},
        }
        if self.tls:
            config["tls"] = {
                "enabled": True,
                "ca_cert_path": f"{SECRETS_DIR}/ca.crt",
                "node_cert_path": f"{SECRETS_DIR}/{node.name}.crt",
                "node_key_path": f"{SECRETS_DIR}/{node.name}.key",
            }
        config.update(self.overrides.get(node.name, {}))
        return config


@dataclass(frozen=True)
class NodeFiles:
    """What one node gets injected: its config (validated) and secret files by relative name."""

    config_json: bytes
    files: Mapping[str, bytes]


class Secrets:
    """Per-run secrets: the CA, node certificates and the shared IAM bootstrap token."""

    def __init__(self, ca: CertificateAuthority | None = None, bootstrap_token: str | None = None) -> None:
        """New secrets, or (`ca`, `bootstrap_token`) those a cluster snapshot saved."""
        self.ca = ca or CertificateAuthority()
        self.bootstrap_token = bootstrap_token or secrets.token_urlsafe(32)

    def node_files(self, topology: Topology, node: NodeSpec, *, validate: bool = True) -> NodeFiles:
        config = topology.cluster_config(node)
        text = json.dumps(config, indent=2).encode()
        if validate:
            try:
                ClusterConfig.model_validate_json(text)
            except ValueError as err:
                raise InfrastructureError(f"harness generated an invalid config for {node.name}: {err}") from err
        files: dict[str, bytes] = {BOOTSTRAP_TOKEN_FILE: self.bootstrap_token.encode() + b"\n"}
        if topology.tls:
            pair = self.ca.issue(node.name, ips=(node.ip, "127.0.0.1"), dns=("localhost",))
            files.update(
                {"ca.crt": self.ca.cert_pem, f"{node.name}.crt": pair.cert_pem, f"{node.name}.key": pair.key_pem}
            )
        return NodeFiles(text, files)

    def secret_strings(self) -> tuple[str, ...]:
        """Values that must never appear in a log or console (checked after every run)."""
        return (self.bootstrap_token,)


SERVICE_PORTS: Mapping[Service, int] = {Service.CHAINFIRE: 2379, Service.FLAREDB: 2479, Service.IAM: 8080}
