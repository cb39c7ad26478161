"""`fba preflight` with a real test PKI: TLS files valid / expired / mismatched / too open."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, FbaResult, Node, Servers
from .fakes import Pki, ServerTls, make_cert


def _checks(result: FbaResult) -> dict[str, dict[str, Any]]:
    """check name -> its line; exactly one JSON line per check."""
    names = [line["context"]["check"] for line in result.lines]
    assert all(count == 1 for count in Counter(names).values()), names
    return {line["context"]["check"]: line for line in result.lines}


def _tls_node(servers: Servers, tmp_path: Path, pki: Pki) -> Node:
    node = Node(servers, tmp_path, tls=ServerTls(pki))
    node.leader()
    return node


def _tls_config(node: Node, cert: Path, key: Path) -> dict[str, Any]:
    return node.config(tls={"node_cert_path": str(cert), "node_key_path": str(key)})


def test_all_checks_pass_with_the_test_pki(fba: Fba, servers: Servers, tmp_path: Path, pki: Pki) -> None:
    node = _tls_node(servers, tmp_path, pki)
    fba.write_config(_tls_config(node, pki.client_cert, pki.client_key))

    result = fba.run("preflight")

    assert result.rc == ExitCode.OK, result.describe()
    checks = _checks(result)
    for name in ("tls-ca", "tls-node-cert", "tls-key-permissions", "tls-key-matches-cert", "leader-reachable", "disk"):
        assert checks[name]["context"]["ok"] is True, checks[name]
    assert "CN=fba test CA A" in checks["tls-ca"]["context"]["detail"]
    assert node.leaders["chainfire"].requests_to("GET", "/health")


def test_expired_certificate_fails(fba: Fba, servers: Servers, tmp_path: Path, pki: Pki) -> None:
    node = _tls_node(servers, tmp_path, pki)
    now = dt.datetime.now(dt.UTC)
    cert, key = make_cert(
        pki.directory,
        "expired",
        ca_cert=pki.ca_cert,
        ca_key=pki.ca_key,
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    fba.write_config(_tls_config(node, cert, key))

    result = fba.run("preflight")

    assert result.rc == ExitCode.FAILED, result.describe()
    checks = _checks(result)
    assert checks["tls-node-cert"]["level"] == "ERROR"
    assert "expires" in checks["tls-node-cert"]["context"]["detail"]


def test_key_not_matching_certificate_fails(fba: Fba, servers: Servers, tmp_path: Path, pki: Pki) -> None:
    node = _tls_node(servers, tmp_path, pki)
    fba.write_config(_tls_config(node, pki.client_cert, pki.server_key))

    result = fba.run("preflight")

    assert result.rc == ExitCode.FAILED, result.describe()
    checks = _checks(result)
    assert checks["tls-key-matches-cert"]["context"]["ok"] is False
    assert checks["tls-key-matches-cert"]["level"] == "ERROR"


def test_world_readable_key_fails(fba: Fba, servers: Servers, tmp_path: Path, pki: Pki) -> None:
    node = _tls_node(servers, tmp_path, pki)
    key = pki.directory / "open.key"
    shutil.copy(pki.client_key, key)
    os.chmod(key, 0o644)
    fba.write_config(_tls_config(node, pki.client_cert, key))

    result = fba.run("preflight")

    assert result.rc == ExitCode.FAILED, result.describe()
    checks = _checks(result)
    assert checks["tls-key-permissions"]["context"]["ok"] is False
    assert "0644" in checks["tls-key-permissions"]["context"]["detail"]


def test_missing_certificate_fails_without_traceback(fba: Fba, servers: Servers, tmp_path: Path, pki: Pki) -> None:
    node = _tls_node(servers, tmp_path, pki)
    fba.write_config(_tls_config(node, pki.directory / "absent.crt", pki.client_key))

    result = fba.run("preflight")

    assert result.rc == ExitCode.FAILED, result.describe()
    assert _checks(result)["tls-node-cert"]["context"]["ok"] is False
    assert "Traceback" not in result.output


def test_leader_unreachable_fails(fba: Fba, node: Node) -> None:
    fba.write_config(node.config())  # no leader started: a closed port

    result = fba.run("preflight")

    assert result.rc == ExitCode.FAILED, result.describe()
    leader = _checks(result)["leader-reachable"]
    assert leader["level"] == "ERROR" and "connection refused" in leader["context"]["detail"]


def test_write_paths_are_judged_here_and_against_the_units_sandbox(fba: Fba, node: Node, tmp_path: Path) -> None:
    """Break 12, K13: each directory the config writes is probed here (a read-only mount fails
    the check); one outside the shipped units' writable directories is a WARN naming how to add
    it (the operator's units may have added it: no failure)."""
    textdir = tmp_path / "textfile_collector"
    textdir.mkdir()
    fba.write_config(node.config(prometheus_textfile=str(textdir / "fba.prom")))

    result = fba.run("preflight")

    checks = _checks(result)
    assert checks["writable:prometheus_textfile"]["level"] == "INFO", result.describe()
    sandbox = checks["units-sandbox:prometheus_textfile"]
    assert sandbox["level"] == "WARN" and "ReadWritePaths" in sandbox["context"]["detail"], sandbox
    assert not [n for n, line in checks.items() if "writable" in n and line["level"] == "ERROR"], result.describe()
