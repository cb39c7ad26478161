"""The CLI turns every outcome into the documented exit code and one line, never a traceback."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.cli import build_parser, run
from automation.spec.markers import MarkerIdentity, render_marker


def write(tmp_path: Path, data: Any, mode: int = 0o600) -> Path:
    path = tmp_path / "cluster-config.json"
    path.write_text(json.dumps(data) if not isinstance(data, (bytes, str)) else data)  # type: ignore[arg-type]
    path.chmod(mode)
    return path


def test_validate_and_detect(
    tmp_path: Path, bootstrap_config: dict[str, Any], join_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, bootstrap_config)
    assert run(["config", "validate", "--config", str(path)], {}) == 0
    assert run(["--config", str(path), "detect"], {}) == 0
    path = write(tmp_path, join_config)
    assert run(["detect", "--config", str(path)], {}) == 1
    capsys.readouterr()


@pytest.mark.parametrize("content", ["", "{", "\x00\x01", '{"node_id": 5}', "[]"])
def test_invalid_config_exit_codes(tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, content)
    assert run(["config", "validate", "--config", str(path)], {}) == 2
    assert run(["detect", "--config", str(path)], {}) == 2
    assert run(["join", "--service", "chainfire", "--config", str(path), "--state-dir", str(tmp_path / "s")], {}) == 3
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert not (tmp_path / "s").exists()


def test_missing_config_uses_design_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["join", "--service", "flaredb", "--config", str(tmp_path / "nope.json")], {}) == 3
    line = json.loads(capsys.readouterr().out.strip())
    assert line["level"] == "ERROR" and line["message"].startswith("Configuration file not found")


@pytest.mark.timeout(30)  # `status --wait --timeout 1e308` accepted would wait, not fail
@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["join"], 3),
        (["join", "--service", "iam"], 3),
        (["bogus"], 3),
        (["detect", "--nope"], 2),
        (["wait-healthy"], 3),
        (["status", "--timeout", "-1"], 3),
        # Out of range: a factor <= 0 makes every budget 0 or less; a wait beyond 24 h (the
        # config's own bound) is a wait without bound (`status --wait --timeout 1e308`).
        (["analyze", "--factor", "-1"], 3),
        (["analyze", "--factor", "0"], 3),
        (["status", "--wait", "--timeout", "1e308"], 3),
        (["status", "--timeout", "86401"], 3),
        (["wait-healthy", "--url", "http://127.0.0.1:1", "--timeout", "1e9"], 3),
        (["join", "--service", "chainfire", "--deadline", "1e300"], 3),
        (["join", "--service", "chainfire", "--retry-delay", "90000"], 3),
    ],
)
def test_usage_errors_are_one_line(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv, {}) == code
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_world_readable_config_warns(
    tmp_path: Path, bootstrap_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, bootstrap_config, mode=0o644)
    assert run(["config", "validate", "--config", str(path)], {}) == 0
    assert "is world-readable (mode 0644); fba refuses to use it" in capsys.readouterr().out
    # ...and every command that uses the file refuses it (exit 3; detect's config error is 2).
    assert run(["join", "--service", "chainfire", "--config", str(path), "--state-dir", str(tmp_path / "s")], {}) == 3
    assert run(["detect", "--config", str(path)], {}) == 2


def test_unknown_failpoint_is_a_usage_error(
    tmp_path: Path, join_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, join_config)
    env = {"FBA_FAILPOINTS": "join.nope=crash"}
    assert run(["join", "--service", "chainfire", "--config", str(path), "--state-dir", str(tmp_path / "s")], env) == 3
    assert "unknown failpoint 'join.nope'" in capsys.readouterr().err


def test_marker_present_means_no_network(
    tmp_path: Path, join_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # leader_url points at a closed port: any network call would fail the run.
    join_config.update(leader_url="http://127.0.0.1:9", raft_addr="127.0.0.13:2380", tls={"enabled": False})
    path = write(tmp_path, join_config)
    state = tmp_path / "s"
    state.mkdir(mode=0o700)
    identity = MarkerIdentity(join_config["node_id"], join_config["cluster_name"], join_config["raft_addr"])
    (state / ".chainfire-joined").write_text(render_marker("2025-12-10T10:30:45+00:00", identity))
    assert run(["join", "--service", "chainfire", "--config", str(path), "--state-dir", str(state)], {}) == 2
    assert "marker present" in capsys.readouterr().out


def test_timestamp_only_marker_is_trusted_with_a_warning_when_no_leader_answers(
    tmp_path: Path, join_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # The design's manual `date -Iseconds > marker`: it names no node, so the leader is asked
    # once; nobody answers (closed port), and a reboot must not depend on the leader.
    join_config.update(leader_url="http://127.0.0.1:9", raft_addr="127.0.0.13:2380", tls={"enabled": False})
    path = write(tmp_path, join_config)
    state = tmp_path / "s"
    state.mkdir(mode=0o700)
    (state / ".chainfire-joined").write_text("2025-12-10T10:30:45+00:00\n")
    assert run(["join", "--service", "chainfire", "--config", str(path), "--state-dir", str(state)], {}) == 2
    warnings = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"WARN"' in line]
    assert any("no leader could confirm it; trusting it" in w["message"] for w in warnings)
    assert (state / ".chainfire-joined").read_text() == "2025-12-10T10:30:45+00:00\n"  # not re-written


def test_schema_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config", "schema"], {}) == 0
    assert json.loads(capsys.readouterr().out)["$schema"].startswith("http://json-schema.org/draft-07")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=4096))
def test_any_bytes_as_config_validate_exit_0_or_2_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: bytes
) -> None:
    path = tmp_path / "cluster-config.json"
    path.write_bytes(raw)
    path.chmod(0o600)
    code = run(["config", "validate", "--config", str(path)], {})
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert err == "" and "Traceback" not in out
    lines = out.splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines)


def test_flaredb_join_waits_for_chainfires_marker(
    tmp_path: Path, join_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # any call would fail (this node on loopback too: a loopback leader of a node that is not is
    # this node itself, a config error since break 10, G4)
    join_config.update(leader_url="http://127.0.0.1:9", raft_addr="127.0.0.13:2380", tls={"enabled": False})
    path = write(tmp_path, join_config)
    state = tmp_path / "s"
    argv = ["join", "--service", "flaredb", "--require-joined", "chainfire", "--config", str(path)]
    assert run([*argv, "--state-dir", str(state)], {}) == 1
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["level"] == "ERROR" and last["context"]["cause"] == "prerequisite not joined yet"
    assert last["context"]["prerequisite"] == "chainfire"
    assert not (state / ".flaredb-joined").exists()


@pytest.mark.parametrize("service", ["chainfire", "flaredb"])
def test_a_join_requiring_itself_is_a_usage_error_before_anything_runs(
    tmp_path: Path, join_config: dict[str, Any], service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Break 7, finding 7: it waited for its own marker, exit 1 on every start until systemd's
    start limit."""
    path = write(tmp_path, join_config)
    state = tmp_path / "s"
    argv = ["join", "--service", service, "--require-joined", service, "--config", str(path)]
    assert run([*argv, "--state-dir", str(state)], {}) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == (
        f"fba join: --require-joined {service} is --service itself: a step cannot require itself"
    )
    assert not state.exists()  # nothing ran: not even the lock file


@pytest.mark.parametrize("member", ["", "node01#x", "../../users/admin", "node01/../node09", "node01?force=1"])
def test_run_leave_refuses_an_id_that_is_not_a_node_id_whoever_calls_it(member: str) -> None:
    """The backstop behind `--member`'s argument type: `run_leave` itself never puts such an id
    into a URL path (an empty one removed this node), and refuses before using its context."""
    from types import SimpleNamespace

    from automation.errors import UsageError
    from automation.leave import run_leave
    from automation.spec.markers import Service

    with pytest.raises(UsageError, match="not a node id"):
        run_leave(SimpleNamespace(config=SimpleNamespace(node_id="node04")), Service.CHAINFIRE, member)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["FBA_CONFIG", "FBA_STATE_DIR"])
def test_an_empty_path_variable_is_a_usage_error(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["status", "--timeout", "0"], env={name: ""}) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{name} is set but empty" in err


@pytest.mark.parametrize("columns", ["40", "100", "", "junk"])
def test_help_is_laid_out_as_argparse_would(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fba`'s formatter finds the width without importing `shutil` (start-up), and lays the
    help out exactly as argparse's own formatter does for the same `COLUMNS` (an empty or
    unreadable one falls back the same way)."""
    monkeypatch.setenv("COLUMNS", columns)
    for only in ("status", None):
        ours = build_parser(only=only)
        theirs = build_parser(only=only)
        theirs.formatter_class = argparse.HelpFormatter
        assert ours.format_help() == theirs.format_help()
        assert ours.format_usage() == theirs.format_usage()


def test_units_render_adds_the_operators_writable_directories(tmp_path: Path) -> None:
    """Break 12, K13: `--writable` reaches every unit's ReadWritePaths; a relative entry is a
    usage error and nothing is written (systemd would refuse such a unit)."""
    assert run(["units", "render", str(tmp_path / "u"), "--writable", "/var/lib/node_exporter/tf:/persist/s"], {}) == 0
    for unit in (tmp_path / "u").glob("*.service"):
        assert "-/var/lib/node_exporter/tf -/persist/s\n" in unit.read_text(), unit
    assert run(["units", "render", str(tmp_path / "v"), "--writable", "textfiles"], {}) != 0
    assert not (tmp_path / "v").exists()
