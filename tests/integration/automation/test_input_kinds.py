"""Inputs a third tester found (break6): each is one instance of a kind, and each kind is judged
in one place (the CLI's argument types, `automation.spec.environment`, the config model's port,
path and URL-path types, `MarkerStore`). A bad input is one line and exit 3 (`config validate`:
2) before anything is changed or sent; nothing already written is lost.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import FBA, NODE_ID, Fba, Node
from .expect import JOINED, assert_marker, markers_in, mode_of

JOIN = ("join", "--service", "chainfire")
VALIDATE_INVALID = ExitCode.CONFIG_INVALID  # `config validate`: 2 (its own table)


def _joined(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())
    result = fba.run(*JOIN)
    assert result.rc == ExitCode.OK, result.describe()


# --- bug 3: `fba leave --member` is a node id, checked before any request ----------------------


@pytest.mark.parametrize(
    "member",
    ["", "node01#x", "../../users/admin", "node01/../node09", "node01?force=1", "node 01", "nöde01", "-x"],
    ids=["empty", "fragment", "dot-dot", "path", "query", "space", "non-ascii", "dash-first"],
)
def test_leave_member_that_is_not_a_node_id_is_a_usage_error_before_any_request(
    fba: Fba, node: Node, member: str
) -> None:
    _joined(fba, node)
    leader = node.clusters["chainfire"]
    members_before = leader.member_ids()

    result = fba.run("leave", "--service", "chainfire", f"--member={member}")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "not a node id" in result.stderr, result.describe()
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert leader.member_ids() == members_before  # nothing was removed, this node least of all
    assert markers_in(fba.state_dir) == [JOINED]


# --- bug 4: an empty path is a usage error; fba never chmods a directory it did not create -----


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (("--state-dir", ""), {}),
        (("--config", ""), {}),
        ((), {"FBA_STATE_DIR": ""}),
        ((), {"FBA_CONFIG": ""}),
        ((), {"FBA_FAILPOINTS_FIRED": ""}),
    ],
    ids=["--state-dir", "--config", "FBA_STATE_DIR", "FBA_CONFIG", "FBA_FAILPOINTS_FIRED"],
)
def test_an_empty_path_is_a_usage_error_and_the_cwd_is_untouched(
    fba: Fba, node: Node, tmp_path: Path, argv: tuple[str, ...], env: dict[str, str]
) -> None:
    node.leader()
    fba.write_config(node.config())
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cwd.chmod(0o755)
    args = [str(FBA)]
    if "--config" not in argv and "FBA_CONFIG" not in env:
        args += ["--config", str(fba.config_path)]
    if "--state-dir" not in argv and "FBA_STATE_DIR" not in env:
        args += ["--state-dir", str(fba.state_dir)]
    args += [*argv, *JOIN]
    full_env = {k: v for k, v in fba.env().items() if k not in env} | env
    done = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=30, check=False)

    assert done.returncode == ExitCode.INVALID, (done.stdout, done.stderr)
    assert "empty" in done.stdout + done.stderr and "Traceback" not in done.stdout + done.stderr
    assert mode_of(cwd) == 0o755 and list(cwd.iterdir()) == []
    assert node.clusters["chainfire"].member_ids() == [] or NODE_ID not in node.clusters["chainfire"].member_ids()


@pytest.mark.parametrize(
    "argv",
    [
        ("units", "render", ""),
        ("provision", "--source", "", "--dest", "D"),
        ("provision", "--source", "S", "--dest", ""),
    ],
    ids=["units-render", "provision-source", "provision-dest"],
)
def test_an_empty_directory_argument_is_a_usage_error(fba: Fba, tmp_path: Path, argv: tuple[str, ...]) -> None:
    cwd = tmp_path / "cwd"
    (cwd / "S").mkdir(parents=True)
    (cwd / "S" / "secret").write_text("x\n")
    done = subprocess.run(
        [str(FBA), *argv], cwd=cwd, env=fba.env(), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == ExitCode.INVALID, (done.stdout, done.stderr)
    assert "empty path" in done.stderr
    assert sorted(p.name for p in cwd.iterdir()) == ["S"]  # nothing written into the cwd


@pytest.mark.parametrize(
    "field",
    [
        ("iam", "credentials_path"),
        ("iam", "bootstrap_token_path"),
        ("preflight", "disk_path"),
        ("tls", "ca_cert_path"),
        (None, "prometheus_textfile"),
    ],
    ids=lambda f: ".".join(p for p in f if p),
)
@pytest.mark.parametrize("value", ["", "relative/path"], ids=["empty", "relative"])
def test_an_empty_or_relative_path_in_the_config_is_invalid(
    fba: Fba, node: Node, field: tuple[str | None, str], value: str
) -> None:
    section, key = field
    config = node.config(**({section: {key: value}} if section else {key: value}))
    fba.write_config(config)

    result = fba.run("config", "validate")

    assert result.rc == VALIDATE_INVALID, result.describe()
    assert "expected an absolute path" in result.stdout, result.describe()


def test_an_existing_state_dir_keeps_its_mode_with_a_warning(fba: Fba, node: Node) -> None:
    node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir()
    fba.state_dir.chmod(0o755)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert mode_of(fba.state_dir) == 0o755  # not ours to change
    assert [w for w in result.levels("WARN") if "0755" in w["message"] and "used as it is" in w["message"]]


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777], ids=["world", "group", "sticky-world"])
def test_a_state_dir_others_may_write_is_refused_before_any_request(fba: Fba, node: Node, mode: int) -> None:
    node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir()
    fba.state_dir.chmod(mode)

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert "may write to it" in result.output, result.describe()
    assert mode_of(fba.state_dir) == mode
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert markers_in(fba.state_dir) == []


def _inject(tmp_path: Path) -> Path:
    source = tmp_path / "inject"
    source.mkdir()
    (source / "cluster-config.json").write_text('{"node_id": "node04"}\n')
    return source


def test_provision_keeps_the_mode_of_an_existing_dest_with_a_warning(fba: Fba, tmp_path: Path) -> None:
    dest = tmp_path / "etc"
    dest.mkdir()
    dest.chmod(0o755)

    result = fba.run("provision", "--source", str(_inject(tmp_path)), "--dest", str(dest), global_paths=False)

    assert result.rc == ExitCode.OK, result.describe()
    assert mode_of(dest) == 0o755 and mode_of(dest / "cluster-config.json") == 0o600
    assert [w for w in result.levels("WARN") if "0755" in w["message"] and "used as it is" in w["message"]]


def test_provision_refuses_a_dest_others_may_write_and_installs_nothing(fba: Fba, tmp_path: Path) -> None:
    dest = tmp_path / "tmpdir"
    dest.mkdir()
    dest.chmod(0o1777)

    result = fba.run("provision", "--source", str(_inject(tmp_path)), "--dest", str(dest), global_paths=False)

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "may write to it" in result.output
    assert mode_of(dest) == 0o1777 and list(dest.iterdir()) == []


# --- bug 10: leftovers in the state dir are skipped, errors name the real path -----------------


@pytest.mark.parametrize(
    "leftover",
    ["file:99999999999999999999", "dir:12345678", "dir:4194303"],
    ids=["huge-pid-file", "dir-big-pid", "dir-dead-pid"],
)
def test_stale_temp_leftovers_do_not_break_a_join(fba: Fba, node: Node, leftover: str) -> None:
    node.leader()
    fba.write_config(node.config())
    fba.state_dir.mkdir(mode=0o700)
    kind, _, pid = leftover.partition(":")
    path = fba.state_dir / f"{JOINED}.tmp-{pid}"  # as the tester left them
    if kind == "dir":
        path.mkdir()
    else:
        path.write_bytes(b"")

    result = fba.run(*JOIN)

    assert result.rc == ExitCode.OK, result.describe()
    assert_marker(fba.marker(JOINED))


# --- bug 11: ports are ASCII digits, no leading zero, 1-65535 ---------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"raft_addr": "127.0.0.4:２３８０"},
        {"raft_addr": "127.0.0.4:٢٣٨٠"},
        {"raft_addr": "127.0.0.4:²"},
        {"raft_addr": "127.0.0.4:02380"},
        {"initial_peers": ["127.0.0.2:02380"]},
        {"flaredb_peers": ["node02=127.0.0.2:２４８０"]},
        {"leader_url": "http://127.0.0.2:02379"},
        {"discovery": {"peer_urls": ["http://127.0.0.2:０２３７９"]}},
        {"notify_url": "http://127.0.0.2:²"},
    ],
    ids=[
        "raft-fullwidth",
        "raft-arabic-indic",
        "raft-superscript",
        "raft-leading-zero",
        "peer-leading-zero",
        "flaredb-peer-fullwidth",
        "leader-url-leading-zero",
        "peer-url-fullwidth",
        "notify-url-superscript",
    ],
)
def test_a_port_that_is_not_plain_ascii_digits_is_one_clear_line(
    fba: Fba, node: Node, change: dict[str, object]
) -> None:
    fba.write_config(node.config(**change))

    result = fba.run("config", "validate")

    assert result.rc == VALIDATE_INVALID, result.describe()
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "a port" in lines[0], result.describe()
    assert "invalid literal" not in result.output and "Traceback" not in result.output


# --- bug 12: a URL path in the config starts with / ---------------------------------------------


@pytest.mark.parametrize("value", ["health", "", "/health?x=1", "/he alth", "/health#x"])
def test_a_health_path_that_is_not_a_path_is_a_config_error(fba: Fba, node: Node, value: str) -> None:
    node.leader()
    fba.write_config(node.config(services={"chainfire": {"health_path": value}}))

    validate = fba.run("config", "validate")
    join = fba.run(*JOIN)

    assert validate.rc == VALIDATE_INVALID and "services.chainfire.health_path" in validate.stdout
    assert join.rc == ExitCode.INVALID, join.describe()
    assert join.elapsed_s < 10


# --- bug 16: a dangling symlink as a marker is named by `fba status` ---------------------------


def test_a_dangling_symlink_marker_is_reported_by_status(fba: Fba) -> None:
    fba.state_dir.mkdir(mode=0o700)
    fba.marker(JOINED).symlink_to(fba.state_dir / "gone")

    text = fba.run("status", "--timeout", "1", global_paths=False, env={"FBA_STATE_DIR": str(fba.state_dir)})
    document = fba.run("status", "--timeout", "1", "--format", "json", env={"FBA_STATE_DIR": str(fba.state_dir)})

    assert text.rc == ExitCode.NOT_FINISHED, text.describe()
    assert any(f"marker {fba.marker(JOINED)}" in line and "symlink" in line for line in text.stdout.splitlines())
    problems = json.loads(document.stdout)["problems"]
    assert any("not a file" in p and "symlink" in p for p in problems), problems


# --- bugs 17, 18: every FBA_* name is judged; an override's error names the variable -----------


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [("FBA_TLS_ENABLED", "true", "tls.enabled"), ("FBA_BOOTSTRAP", "false", "bootstrap")],
)
def test_an_override_of_a_setting_that_cannot_be_overridden_is_refused(
    fba: Fba, node: Node, name: str, value: str, field: str
) -> None:
    node.leader()
    fba.write_config(node.config())

    join = fba.run(*JOIN, env={name: value})
    validate = fba.run("config", "validate", env={name: value})

    assert join.rc == ExitCode.INVALID, join.describe()
    assert f"{name}: {field} cannot be overridden from the environment" in join.output, join.describe()
    assert NODE_ID not in node.clusters["chainfire"].member_ids()
    assert validate.rc == VALIDATE_INVALID, validate.describe()
    assert validate.stdout.startswith(f"environment: {name}: {field} cannot be overridden"), validate.describe()


@pytest.mark.parametrize("command", [JOIN, ("status", "--timeout", "0", "--format", "json")], ids=["join", "status"])
def test_an_unknown_fba_variable_is_warned_about_with_a_did_you_mean(
    fba: Fba, node: Node, command: tuple[str, ...]
) -> None:
    node.leader()
    fba.write_config(node.config())

    result = fba.run(*command, env={"FBA_STATE_DIRECTORY": "/nowhere"})

    assert result.rc in (ExitCode.OK, ExitCode.NOT_FINISHED), result.describe()
    warnings = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [w for w in warnings if "FBA_STATE_DIRECTORY" in w["message"] and "FBA_STATE_DIR?" in w["message"]]
    if command[0] == "status":
        json.loads(result.stdout)  # stdout stays one JSON document


def test_an_override_error_names_the_variable_not_the_file(fba: Fba, node: Node) -> None:
    fba.write_config(node.config())

    validate = fba.run("config", "validate", env={"FBA_JOIN_MAX_ATTEMPTS": "0"})
    join = fba.run(*JOIN, env={"FBA_JOIN_MAX_ATTEMPTS": "0"})

    assert validate.rc == VALIDATE_INVALID, validate.describe()
    line = validate.stdout.strip().splitlines()[0]
    assert line.startswith("environment: FBA_JOIN_MAX_ATTEMPTS (join.max_attempts):"), line
    assert str(fba.config_path) not in line
    assert join.rc == ExitCode.INVALID
    message = join.levels("ERROR")[-1]["message"]
    assert "environment: FBA_JOIN_MAX_ATTEMPTS" in message and str(fba.config_path) not in message, message


def test_a_file_problem_beside_an_override_is_still_the_files(fba: Fba, node: Node) -> None:
    fba.write_config(node.config(join={"request_timeout_s": -1}))

    validate = fba.run("config", "validate", env={"FBA_JOIN_MAX_ATTEMPTS": "0"})

    lines = validate.stdout.strip().splitlines()
    assert validate.rc == VALIDATE_INVALID, validate.describe()
    assert any(line.startswith("environment: FBA_JOIN_MAX_ATTEMPTS") for line in lines), lines
    assert any(line.startswith(f"{fba.config_path}: join.request_timeout_s") for line in lines), lines


@pytest.mark.parametrize(
    ("name", "meant"),
    [("FBA_JION_DEADLINE_S", "FBA_JOIN_DEADLINE_S"), ("FBA_join_max_attempts", "FBA_JOIN_MAX_ATTEMPTS")],
)
def test_a_misspelt_override_stops_the_join_before_anything_is_sent(
    fba: Fba, node: Node, name: str, meant: str
) -> None:
    """Break 7, finding 6: a WARN, and the join ran with the default in charge."""
    leader = node.leader()
    fba.write_config(node.config())

    result = fba.run(*JOIN, env={name: "9"})

    assert result.rc == ExitCode.INVALID, result.describe()
    assert f"did you mean {meant}?" in result.last["message"], result.describe()
    assert leader.admin_requests() == [] and not fba.state_dir.exists()
