"""HTTPS with client certificates, and the conformance suite against the stand-ins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from standins import httpclient
from standins.contract import Service
from standins.errors import ClientError
from standins.launcher import LocalCluster, StandinProcess, common_free_port, wait_until

from .conftest import ClusterFactory
from .tls_material import make_pki


def _conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "standins.conformance", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _tls_node(cluster: LocalCluster, n: int, pki: Path, initial: str | None) -> None:
    host = cluster.addr(n).host
    a = cluster.addr(n)
    cluster.start_node(
        n,
        "--tls-ca",
        str(pki / "ca.crt"),
        "--tls-cert",
        str(pki / f"{host}.crt"),
        "--tls-key",
        str(pki / f"{host}.key"),
        "--tls-require-client-cert",
        "--advertise-api-url",
        f"https://{a.host}:{a.api_port}",
        initial=initial,
    )


def test_mtls_cluster_join_and_conformance(make_cluster: ClusterFactory, tmp_path: Path) -> None:
    cluster = make_cluster(Service.CHAINFIRE)
    hosts = [cluster.addr(n).host for n in (1, 2, 3, 4)] + ["127.0.0.1"]
    make_pki(tmp_path / "pki", hosts)
    pki = tmp_path / "pki"
    tls = httpclient.client_tls_context(pki / "ca.crt", pki / "127.0.0.1.crt", pki / "127.0.0.1.key")
    initial = cluster.initial_cluster(3)
    for n in (1, 2, 3):
        _tls_node(cluster, n, pki, initial)
    _tls_node(cluster, 4, pki, None)
    url = {n: f"https://{cluster.addr(n).host}:{cluster.api_port}" for n in (1, 2, 3, 4)}

    def leader() -> str | None:
        body = httpclient.request("GET", url[1] + "/health", tls=tls, timeout=2).body
        return body["leader"]["api_url"] if body.get("leader") else None

    lead = wait_until("TLS leader", leader, 20)
    assert lead.startswith("https://")
    wait_until(
        "node04 up", lambda: httpclient.request("GET", url[4] + "/health", tls=tls, timeout=2).status == 200 or None, 10
    )
    added = httpclient.request(
        "POST",
        lead + "/admin/member/add",
        {"id": "node04", "raft_addr": cluster.addr(4).raft_addr},
        tls=tls,
        timeout=15,
    )
    assert added.status == 201
    assert added.body["added"]["api_url"] == url[4]  # derived with the https scheme
    wait_until(
        "node04 follows", lambda: httpclient.request("GET", url[4] + "/health", tls=tls).body.get("leader") or None, 15
    )

    no_cert = httpclient.client_tls_context(pki / "ca.crt")
    with pytest.raises(ClientError):
        httpclient.request("GET", url[1] + "/health", tls=no_cert, timeout=3)

    done = _conformance(
        "--service",
        "chainfire",
        "--url",
        url[2],
        "--ca",
        str(pki / "ca.crt"),
        "--cert",
        str(pki / "127.0.0.1.crt"),
        "--key",
        str(pki / "127.0.0.1.key"),
        "--allow-mutations",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[0:2] for line in done.stdout.splitlines()] == [
        ["PASS", "health:"],
        ["PASS", "members:"],
        ["PASS", "leader:"],
        ["PASS", "add-malformed:"],
        ["PASS", "add:"],
        ["PASS", "add-duplicate:"],
        ["PASS", "follower-hint:"],
        ["PASS", "remove:"],
    ]


def test_conformance_flaredb_and_iam(make_cluster: ClusterFactory, tmp_path: Path) -> None:
    cluster = make_cluster(Service.FLAREDB)
    cluster.bootstrap(3)
    cluster.wait_leader([1, 2, 3])
    url = cluster.addr(2).api_url
    read_only = _conformance("--service", "flaredb", "--url", url)
    assert read_only.returncode == 0, read_only.stdout
    assert len(read_only.stdout.splitlines()) == 4
    full = _conformance("--service", "flaredb", "--url", url, "--allow-mutations")
    assert full.returncode == 0, full.stdout
    assert "PASS kv-write" in full.stdout

    token = tmp_path / "token"
    token.write_text("conformance-bootstrap-token")
    port = common_free_port(["127.0.1.1"])
    iam_url = f"http://127.0.1.1:{port}"
    proc = StandinProcess(
        "iam",
        [
            sys.executable,
            "-m",
            "standins.iam",
            "--node-id",
            "i1",
            "--api-addr",
            f"127.0.1.1:{port}",
            "--flaredb-url",
            url,
            "--bootstrap-token-file",
            str(token),
        ],
        tmp_path / "iam.log",
    ).start()
    cluster.procs["iam"] = proc
    wait_until("iam up", lambda: httpclient.request("GET", iam_url + "/health", timeout=2).status == 200 or None, 15)
    iam = _conformance("--service", "iam", "--url", iam_url, "--token-file", str(token), "--allow-mutations")
    assert iam.returncode == 0, iam.stdout
    assert len(iam.stdout.splitlines()) == 5


def test_conformance_fails_against_a_broken_service(make_cluster: ClusterFactory) -> None:
    cluster = make_cluster(Service.CHAINFIRE, size_hint=1)
    cluster.start_node(1)  # join mode: no leader, no quorum
    wait_until("up", lambda: cluster.health(1), 10)
    done = _conformance("--service", "chainfire", "--url", cluster.addr(1).api_url)
    assert done.returncode == 1
    assert "FAIL leader: no leader or no quorum" in done.stdout
    dead = _conformance("--service", "chainfire", "--url", "http://127.0.1.1:1")
    assert dead.returncode == 1
    assert dead.stdout.startswith("FAIL health: cannot connect")
