"""`fba leave`, `fba wait-healthy --url`, `fba provision` as subprocesses."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from automation.spec.exitcodes import INTERRUPTED_LINE, ExitCode

from .conftest import NODE_ID, RAFT_ADDR, Fba, Node, Servers
from .expect import JOINED, markers_in, mode_of
from .fakes import Answer

# --- leave


def test_leave_deletes_member_and_removes_markers(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config())
    assert fba.run("join", "--service", "chainfire").rc == ExitCode.OK
    assert markers_in(fba.state_dir) == [JOINED]

    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in leader.requests_to("DELETE", f"/admin/member/{NODE_ID}")] == [200]
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == []

    rejoin = fba.run("join", "--service", "chainfire")  # the design's rollback: automation re-enabled
    assert rejoin.rc == ExitCode.OK, rejoin.describe()


def test_leave_404_is_not_a_member(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())

    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.ALREADY_DONE, result.describe()
    assert result.with_message("Not a member of the cluster (HTTP 404)", "WARN")


def test_leave_other_member_keeps_own_markers(fba: Fba, node: Node) -> None:
    node.leader()
    node.clusters["chainfire"].add_member("node09", "127.0.0.1:2389", "http://127.0.0.1:9")
    fba.write_config(node.config())
    assert fba.run("join", "--service", "chainfire").rc == ExitCode.OK

    result = fba.run("leave", "--service", "chainfire", "--member", "node09")

    assert result.rc == ExitCode.OK, result.describe()
    assert "node09" not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == [JOINED]


def test_leave_follows_the_leader_hint(fba: Fba, node: Node, servers: Servers) -> None:
    leader = node.leader()
    node.clusters["chainfire"].add_member(NODE_ID, RAFT_ADDR, node.chainfire.url)
    follower = servers.start("follower", cluster=node.clusters["chainfire"], role="follower")
    fba.write_config(node.config(leader_url=follower.url, services={"chainfire": {"leader_url": follower.url}}))

    result = fba.run("leave", "--service", "chainfire")

    assert result.rc == ExitCode.OK, result.describe()
    assert [r.status for r in follower.requests_to("DELETE", f"/admin/member/{NODE_ID}")] == [421]
    assert [r.status for r in leader.requests_to("DELETE", f"/admin/member/{NODE_ID}")] == [200]


# --- wait-healthy


def test_wait_healthy_url_503_then_200(fba: Fba, servers: Servers) -> None:
    service = servers.start("svc")
    service.script("GET", "/health", Answer(503, {"status": "starting"}), Answer(503, {"status": "starting"}))

    result = fba.run("wait-healthy", "--url", f"{service.url}/health", "--timeout", "5", global_paths=False)

    assert result.rc == ExitCode.HEALTHY, result.describe()
    assert [r.status for r in service.requests_to("GET", "/health")] == [503, 503, 200]
    assert result.with_message("Service healthy", "INFO")


def test_wait_healthy_url_always_503_times_out(fba: Fba, servers: Servers) -> None:
    service = servers.start("svc")
    service.script("GET", "/health", Answer(503, {"status": "starting"}), repeat_last=True)

    result = fba.run("wait-healthy", "--url", f"{service.url}/health", "--timeout", "1", global_paths=False)

    assert result.rc == ExitCode.UNHEALTHY, result.describe()
    assert result.last["message"] == "Health check timeout"
    assert result.last["level"] == "ERROR"
    assert result.last["context"]["elapsed_s"] <= 1.5  # gives up at its budget, not one interval later
    assert result.elapsed_s < 10  # hard bound: does not hang
    assert "HTTP 503" in result.last["context"]["last"]


def test_wait_healthy_service_uses_the_config(fba: Fba, node: Node) -> None:
    node.flaredb.script("GET", "/health", Answer(503, {"status": "starting"}), Answer(503, {"status": "starting"}))
    fba.write_config(node.config())

    result = fba.run("wait-healthy", "--service", "flaredb")

    assert result.rc == ExitCode.HEALTHY, result.describe()
    assert [r.status for r in node.flaredb.requests_to("GET", "/health")] == [503, 503, 200]
    assert node.chainfire.requests == []


# --- provision


def test_provision_installs_0600_and_leaves_unrelated_files(tmp_path: Path, fba: Fba) -> None:
    source, dest = tmp_path / "inject", tmp_path / "secrets-dest"
    (source / "tls").mkdir(parents=True)
    (source / "cluster-config.json").write_text('{"node_id": "node04"}\n')
    (source / "tls" / "node04.key").write_text("KEY\n")
    os.chmod(source / "tls" / "node04.key", 0o644)
    dest.mkdir(mode=0o700)  # an existing dest keeps its mode (test_input_kinds.py)
    unrelated = dest / "iam-admin.json"
    unrelated.write_text('{"admin_password": "kept"}\n')
    os.chmod(unrelated, 0o640)
    before = (unrelated.read_bytes(), mode_of(unrelated), unrelated.stat().st_mtime_ns)

    result = fba.run("provision", "--source", str(source), "--dest", str(dest), global_paths=False)

    assert result.rc == ExitCode.OK, result.describe()
    assert (dest / "cluster-config.json").read_text() == '{"node_id": "node04"}\n'
    assert (dest / "tls" / "node04.key").read_text() == "KEY\n"
    assert mode_of(dest / "cluster-config.json") == 0o600
    assert mode_of(dest / "tls" / "node04.key") == 0o600
    assert mode_of(dest) == 0o700
    assert (unrelated.read_bytes(), mode_of(unrelated), unrelated.stat().st_mtime_ns) == before
    assert sorted(p.name for p in dest.rglob("*")) == ["cluster-config.json", "iam-admin.json", "node04.key", "tls"]
    assert result.lines  # JSON log line(s)

    again = fba.run("provision", "--source", str(source), "--dest", str(dest), global_paths=False)
    assert again.rc == ExitCode.OK
    assert again.last["context"]["unchanged"] == ["cluster-config.json", "tls/node04.key"]


def test_provision_missing_source_is_invalid(tmp_path: Path, fba: Fba) -> None:
    result = fba.run("provision", "--source", str(tmp_path / "nope"), "--dest", str(tmp_path / "d"), global_paths=False)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "Traceback" not in result.output


# --- signals


def test_sigint_exits_130_with_one_line_and_sigterm_kills(fba: Fba, node: Node, servers: Servers) -> None:
    """break 9: SIGINT exits 130 with `fba: interrupted`, the one code every command may exit
    with besides its own (documented from `spec.exitcodes.SIGNALS`); SIGTERM is not caught.
    `wait-healthy` on a service that stays 503 is a command inside a wait for 60 s."""
    service = servers.start("svc")
    service.script("GET", "/health", Answer(503, {"status": "starting"}), repeat_last=True)
    fba.write_config(node.config())
    codes = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = fba.start("wait-healthy", "--url", f"{service.url}/health", "--timeout", "60")
        time.sleep(1.5)  # inside its wait
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
        codes.append((proc.returncode, err.strip().splitlines()[-1:] if sig is signal.SIGINT else []))
    assert codes == [(ExitCode.INTERRUPTED, [INTERRUPTED_LINE]), (-signal.SIGTERM, [])]
    assert ExitCode.INTERRUPTED == 130
