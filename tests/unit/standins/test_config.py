"""Flags, STANDIN_* environment and cluster-config.json parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from standins.cluster_config import Peer, parse_peer
from standins.config import parse_config
from standins.contract import Service
from standins.errors import ConfigError


def test_parse_peer_forms() -> None:
    assert parse_peer("node01=10.0.0.1:2380", 2380) == Peer("node01", "10.0.0.1:2380")
    assert parse_peer("node01:2380", 2380) == Peer("node01", "node01:2380")
    assert parse_peer("10.0.0.1:2380", 2380) == Peer("10.0.0.1", "10.0.0.1:2380")
    assert parse_peer("node02", 2480) == Peer("node02", "node02:2480")


def test_flags_override_environment() -> None:
    cfg = parse_config(
        Service.CHAINFIRE,
        ["--raft-addr", "127.0.1.1:2380", "--health-delay", "2"],
        {"STANDIN_HEALTH_DELAY": "5", "STANDIN_NODE_ID": "n1", "STANDIN_REDIRECT_TO_LEADER": "true"},
    )
    assert cfg.health_delay == 2.0
    assert cfg.node_id == "n1"
    assert cfg.redirect_to_leader is True
    assert (cfg.api_host, cfg.api_port) == ("127.0.1.1", 2379)
    assert cfg.advertise_api_url == "http://127.0.1.1:2379"
    assert cfg.initial_cluster == ()


def test_initial_cluster_and_defaults() -> None:
    cfg = parse_config(
        Service.FLAREDB, ["--raft-addr", "127.0.1.2:2480", "--initial-cluster", "a=127.0.1.1:2480,127.0.1.2:2480"], {}
    )
    assert cfg.initial_cluster == (Peer("a", "127.0.1.1:2480"), Peer("127.0.1.2", "127.0.1.2:2480"))
    assert cfg.api_port == 2479 and cfg.node_id == "127.0.1.2"
    assert cfg.data_dir == Path("/var/lib/flaredb")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--raft-addr: missing"),
        (["--raft-addr", "nope"], "--raft-addr: expected host:port"),
        (["--raft-addr", "h:1", "--tls-cert", "c"], "--tls-cert/--tls-key: give both or neither"),
        (["--raft-addr", "h:1", "--raft-profile", "turbo"], "--raft-profile: 'turbo' is not one"),
        (["--raft-addr", "h:1", "--admin-fail-status", "200"], "--admin-fail-status: 200 is not"),
        (["--raft-addr", "h:1", "--health-delay", "soon"], "--health-delay: expected a number"),
    ],
)
def test_bad_knobs_name_themselves(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_config(Service.CHAINFIRE, argv, {})


def _write(tmp_path: Path, data: dict[str, object]) -> str:
    path = tmp_path / "cluster-config.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_cluster_config_bootstrap_node(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "node_id": "node01",
            "node_role": "control-plane",
            "bootstrap": True,
            "cluster_name": "c1",
            "leader_url": "https://node01:2379",
            "raft_addr": "10.0.1.10:2380",
            "initial_peers": ["node01:2380", "node02:2380", "node03:2380"],
            "tls": {
                "enabled": True,
                "ca_cert_path": "/s/ca.crt",
                "node_cert_path": "/s/n.crt",
                "node_key_path": "/s/n.key",
            },
            "some_future_key": {"ignored": True},
        },
    )
    cf = parse_config(Service.CHAINFIRE, ["--cluster-config", path], {})
    assert cf.node_id == "node01" and cf.raft_addr == "10.0.1.10:2380"
    assert cf.initial_cluster[1] == Peer("node02", "node02:2380")
    assert cf.tls is not None and str(cf.tls.ca) == "/s/ca.crt"
    assert cf.advertise_api_url == "https://10.0.1.10:2379"
    fd = parse_config(Service.FLAREDB, ["--cluster-config", path], {})
    assert fd.raft_addr == "10.0.1.10:2480"
    assert fd.initial_cluster[2] == Peer("node03", "node03:2480")
    iam = parse_config(Service.IAM, ["--cluster-config", path], {})
    assert (iam.api_host, iam.api_port) == ("10.0.1.10", 8080)


def test_cluster_config_join_node_has_no_peers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"node_id": "node04", "bootstrap": False, "raft_addr": "10.0.1.13:2380", "initial_peers": ["node01:2380"]},
    )
    cfg = parse_config(Service.CHAINFIRE, ["--cluster-config", path, "--api-addr", "0.0.0.0:1"], {})
    assert cfg.initial_cluster == () and cfg.api_port == 1 and cfg.tls is None


def test_cluster_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config(Service.CHAINFIRE, ["--cluster-config", str(tmp_path / "no")], {})
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="is not a valid cluster config"):
        parse_config(Service.CHAINFIRE, ["--cluster-config", str(bad)], {})


def test_iam_derives_flaredb_and_token_from_cluster_config(tmp_path: Path) -> None:
    path = tmp_path / "cluster-config.json"
    path.write_text(
        '{"node_id":"node01","bootstrap":true,"raft_addr":"10.77.0.11:2380","initial_peers":["node01:2380"],'
        '"tls":{"enabled":true,"ca_cert_path":"/s/ca.crt","node_cert_path":"/s/n.crt","node_key_path":"/s/n.key"},'
        '"iam":{"bootstrap_token_path":"/s/token"}}'
    )
    config = parse_config(Service.IAM, ["--cluster-config", str(path)], {})
    assert config.flaredb_url == "https://10.77.0.11:2479"
    assert str(config.bootstrap_token_file) == "/s/token"
    override = parse_config(Service.IAM, ["--cluster-config", str(path), "--flaredb-url", "http://x:1"], {})
    assert override.flaredb_url == "http://x:1"


def test_cluster_config_listens_on_the_node_address_and_loopback(tmp_path: Path) -> None:
    path = tmp_path / "cluster-config.json"
    path.write_text(
        '{"node_id":"node02","bootstrap":true,"raft_addr":"10.77.0.12:2380","initial_peers":["node02:2380"]}'
    )
    config = parse_config(Service.CHAINFIRE, ["--cluster-config", str(path)], {})
    assert (config.api_host, config.api_port) == ("10.77.0.12", 2379)
    assert config.extra_listen == (("127.0.0.1", 2379),)
    assert config.advertise_api_url == "http://10.77.0.12:2379"


def test_the_cluster_name_comes_from_the_flag_or_the_cluster_config(tmp_path: Path) -> None:
    """Break 12, K11: member lists and /health say whose cluster they are (`cluster`)."""
    path = _write(tmp_path, {"node_id": "node04", "cluster_name": "c1", "raft_addr": "10.0.1.14:2380"})
    assert parse_config(Service.CHAINFIRE, ["--cluster-config", path], {}).cluster_name == "c1"
    named = parse_config(Service.FLAREDB, ["--cluster-config", path, "--cluster-name", "c2"], {})
    assert named.cluster_name == "c2"
    assert parse_config(Service.CHAINFIRE, ["--raft-addr", "10.0.1.14:2380"], {}).cluster_name == ""
