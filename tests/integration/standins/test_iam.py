"""iam over a three-node flaredb: one admin cluster-wide, tokens, 401s, no secrets in logs."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from standins import httpclient
from standins.contract import Service
from standins.launcher import LocalCluster, StandinProcess, common_free_port, wait_until

from .conftest import ClusterFactory

BOOTSTRAP = "bootstrap-secret-4f1c9a7e2b"
PASSWORD = "hunter2-very-secret-pw"


def _iam_nodes(cluster: LocalCluster, tmp: Path, expires: str | None = None) -> list[tuple[str, StandinProcess]]:
    token_file = tmp / "bootstrap-token"
    token_file.write_text(BOOTSTRAP + "\n")
    port = common_free_port([cluster.addr(n).host for n in (1, 2, 3)])
    out = []
    for n in (1, 2, 3):
        a = cluster.addr(n)
        argv = [
            sys.executable,
            "-m",
            "standins.iam",
            "--node-id",
            a.id,
            "--api-addr",
            f"{a.host}:{port}",
            "--flaredb-url",
            a.api_url,
            "--bootstrap-token-file",
            str(token_file),
        ]
        if expires:
            argv += ["--bootstrap-token-expires", expires]
        proc = StandinProcess(f"iam-{a.id}", argv, tmp / f"iam-{a.id}.log").start()
        cluster.procs[proc.name] = proc
        out.append((f"http://{a.host}:{port}", proc))
    for url, _ in out:
        wait_until(
            f"iam {url} healthy",
            lambda url=url: httpclient.request("GET", url + "/health", timeout=2).status == 200 or None,
            15,
        )
    return out


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_exactly_one_admin_tokens_and_no_secret_in_logs(make_cluster: ClusterFactory, tmp_path: Path) -> None:
    cluster = make_cluster(Service.FLAREDB)
    cluster.bootstrap(3)
    cluster.wait_leader([1, 2, 3])
    nodes = _iam_nodes(cluster, tmp_path)
    urls = [u for u, _ in nodes]
    health = httpclient.request("GET", urls[0] + "/health").body
    assert health == {"status": "ok", "service": "iam", "node_id": "node01", "store": "ok"}

    results: list[httpclient.HttpResult] = []
    lock = threading.Lock()

    # Each node generates its own password, as fba does.
    def create(url: str, name: str, password: str) -> None:
        r = httpclient.request(
            "POST",
            url + "/users",
            {"name": name, "role": "admin", "password": password},
            headers=_auth(BOOTSTRAP),
            timeout=20,
        )
        with lock:
            results.append(r)
            sent[id(r)] = password

    sent: dict[int, str] = {}
    threads = [threading.Thread(target=create, args=(u, "admin", f"{PASSWORD}-{i}")) for i, u in enumerate(urls)]
    threads += [threading.Thread(target=create, args=(urls[1], "root", f"{PASSWORD}-root"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status for r in results)
    assert statuses == [201, 409, 409, 409], [r.body for r in results]
    winner = next(r.body for r in results if r.status == 201)
    assert set(winner) == {"name", "role", "created_at"} and winner["role"] == "admin"
    # A replay of the winning create (a client that crashed before recording it) is 200, not 409;
    # the same name with another password stays 409.
    winning_password = next(sent[id(r)] for r in results if r.status == 201)
    replay = httpclient.request(
        "POST",
        urls[2] + "/users",
        {"name": winner["name"], "role": "admin", "password": winning_password},
        headers=_auth(BOOTSTRAP),
        timeout=20,
    )
    assert replay.status == 200 and replay.body["created_at"] == winner["created_at"]
    other = httpclient.request(
        "POST",
        urls[2] + "/users",
        {"name": winner["name"], "role": "admin", "password": "not-the-password"},
        headers=_auth(BOOTSTRAP),
        timeout=20,
    )
    assert other.status == 409
    errors = sorted(r.body["error"] for r in results if r.status == 409)
    assert set(errors) <= {"user exists", "admin exists"}
    for url in urls:
        admins = wait_until(
            "admin listed",
            lambda url=url: (
                httpclient.request("GET", url + "/users?role=admin", headers=_auth(BOOTSTRAP)).body.get("users") or None
            ),
            10,
        )
        assert [a["name"] for a in admins] == [winner["name"]]
    assert httpclient.request("GET", urls[2] + f"/users/{winner['name']}", headers=_auth(BOOTSTRAP)).status == 200
    assert httpclient.request("GET", urls[2] + "/users/nobody", headers=_auth(BOOTSTRAP)).status == 404

    issued = httpclient.request(
        "POST", urls[0] + "/tokens", {"subject": "node:node01", "ttl_s": 600}, headers=_auth(BOOTSTRAP), timeout=10
    )
    assert issued.status == 201 and issued.body["subject"] == "node:node01"
    token = issued.body["token"]
    assert datetime.fromisoformat(issued.body["expires_at"]) > datetime.now(UTC)
    ok = wait_until(
        "issued token accepted elsewhere",
        lambda: httpclient.request("GET", urls[1] + "/users?role=admin", headers=_auth(token)).status == 200 or None,
        10,
    )
    assert ok

    wrong = httpclient.request("GET", urls[0] + "/users", headers=_auth("wrong-token-xyz"))
    assert wrong.status == 401 and wrong.body == {"error": "invalid token"}
    missing = httpclient.request("GET", urls[0] + "/users")
    assert missing.status == 401 and missing.body == {"error": "invalid token"}
    user = httpclient.request(
        "POST",
        urls[0] + "/users",
        {"name": "alice", "role": "user", "password": PASSWORD},
        headers=_auth(token),
        timeout=10,
    )
    assert user.status == 201

    for proc in cluster.procs.values():
        proc.stop()
    logs = "".join(p.log_text() for p in cluster.procs.values())
    assert "user created" in logs
    for secret in (BOOTSTRAP, PASSWORD, token):
        assert secret not in logs


def test_expired_bootstrap_token_is_refused(make_cluster: ClusterFactory, tmp_path: Path) -> None:
    cluster = make_cluster(Service.FLAREDB)
    cluster.bootstrap(3)
    cluster.wait_leader([1, 2, 3])
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    url = _iam_nodes(cluster, tmp_path, expires=past)[0][0]
    result = httpclient.request("GET", url + "/users", headers=_auth(BOOTSTRAP))
    assert result.status == 401 and result.body == {"error": "token expired"}


def test_iam_health_is_503_when_flaredb_is_down(tmp_path: Path) -> None:
    port = common_free_port(["127.0.1.1"])
    dead = common_free_port(["127.0.1.1"])
    proc = StandinProcess(
        "iam",
        [
            sys.executable,
            "-m",
            "standins.iam",
            "--node-id",
            "n1",
            "--api-addr",
            f"127.0.1.1:{port}",
            "--flaredb-url",
            f"http://127.0.1.1:{dead}",
        ],
        tmp_path / "iam.log",
    ).start()
    try:
        result = wait_until("iam answers", lambda: _try(f"http://127.0.1.1:{port}/health"), 15)
        assert result.status == 503
        assert result.body == {"status": "degraded", "service": "iam", "node_id": "n1", "store": "unreachable"}
    finally:
        proc.stop()


def _try(url: str) -> httpclient.HttpResult | None:
    try:
        return httpclient.request("GET", url, timeout=2)
    except Exception:
        return None
