from __future__ import annotations

import json
from typing import Any

import pytest

DESIGN_BOOTSTRAP: dict[str, Any] = {
    "node_id": "node01",
    "node_role": "control-plane",
    "bootstrap": True,
    "cluster_name": "example",
    "leader_url": "https://node01.example.com:2379",
    "raft_addr": "10.0.1.11:2380",
    "initial_peers": ["node01:2380", "node02:2380", "node03:2380"],
    "tls": {"enabled": True, "ca_cert_path": "/etc/nixos/secrets/ca.crt"},
}
DESIGN_JOIN: dict[str, Any] = {
    "node_id": "node04",
    "node_role": "worker",
    "bootstrap": False,
    "cluster_name": "example",
    "leader_url": "https://node01.example.com:2379",
    "raft_addr": "10.0.1.13:2380",
    "tls": {"enabled": True, "ca_cert_path": "/etc/nixos/secrets/ca.crt"},
}


@pytest.fixture
def bootstrap_config() -> dict[str, Any]:
    return json.loads(json.dumps(DESIGN_BOOTSTRAP))


@pytest.fixture
def join_config() -> dict[str, Any]:
    return json.loads(json.dumps(DESIGN_JOIN))
