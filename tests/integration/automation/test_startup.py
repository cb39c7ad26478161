"""`fba` loads only what a command runs: no config model (pydantic) for `--help` or `status`,
and none of the stdlib modules that path no longer needs (docs/CONTRIBUTING.md, "The start-up
path").

Every unit start on a slow guest pays for `fba`'s imports (bench/fba_startup.py measures it);
this checks the rule, in a fresh interpreter per command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from automation.spec.markers import MarkerIdentity, all_marker_names, render_marker

# json is imported after the modules were listed: the probe's own import must not hide fba's.
PROBE = (
    "import sys\n"
    "from automation.cli import run\n"
    "code = run(sys.argv[1:], {})\n"
    "modules = sorted(sys.modules)\n"
    "import json\n"
    "sys.stderr.write(json.dumps({'code': code, 'modules': modules}) + '\\n')\n"
)
HEAVY = ("pydantic", "automation.spec.config", "automation.configfile", "automation.http")
# What `--help` and `status` imported before they were trimmed, and need not: `dataclasses` and
# the `inspect` it imports (with ast, dis, tokenize), json (no line is written), the table of
# causes, `shutil` (with bz2 and lzma: argparse imports it for the help's width, the systemd
# reader checked for `systemctl` with it). Reading a marker verifies its checksum and
# timestamp: only then hashlib and datetime.
NO_DATACLASSES = ("dataclasses", "inspect", "ast", "dis", "tokenize")
TRIMMED = (*NO_DATACLASSES, "json", "automation.spec.causes", "shutil", "bz2", "lzma")
MARKER_CHECKS = ("hashlib", "datetime")


def modules_of(argv: list[str]) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return int(report["code"]), set(report["modules"])


# (`join --help` does load it: it lists `--retry-mode`'s choices, which the config model holds.)
@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["units", "--help"]])
def test_help_loads_no_config_model(argv: list[str]) -> None:
    code, modules = modules_of(argv)
    assert code == 0
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    # nor what only a command that runs needs: the invocation and its unit graph
    unneeded = {*TRIMMED, *MARKER_CHECKS, "automation.invocation", "automation.spec.units"}
    assert not modules & unneeded, sorted(modules & unneeded)


def test_status_loads_no_config_model(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    code, modules = modules_of(["status", "--state-dir", str(state)])
    assert code in (0, 1, 2)
    assert "automation.status" in modules
    assert not modules & {*HEAVY, "tenacity"}, sorted(modules & {*HEAVY, "tenacity"})
    assert not modules & {*TRIMMED, *MARKER_CHECKS}, sorted(modules & {*TRIMMED, *MARKER_CHECKS})


def test_status_reading_markers_loads_no_dataclasses(tmp_path: Path) -> None:
    """A node past its first boot has markers: `status` verifies them (hashlib, datetime), and
    still needs no dataclasses."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    identity = MarkerIdentity("node01", "bench", "127.0.0.1:2380")
    for name in all_marker_names():
        (state / name).write_text(render_marker("2026-12-01T10:00:00+00:00", identity))
    code, modules = modules_of(["status", "--state-dir", str(state)])
    assert code in (0, 1, 2)
    assert set(MARKER_CHECKS) <= modules  # the markers were read, not skipped
    assert not modules & {*HEAVY, *TRIMMED}, sorted(modules & {*HEAVY, *TRIMMED})


def test_config_validate_loads_the_config_but_not_the_steps(tmp_path: Path) -> None:
    path = tmp_path / "cluster-config.json"
    path.write_text("{}")
    code, modules = modules_of(["config", "validate", "--config", str(path)])
    assert code == 2
    assert "automation.spec.config" in modules
    assert not modules & {"automation.join", "automation.http", "automation.report", "tenacity"}


MAIN_PROBE = (
    "import sys\n"
    "from automation.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:], {})\n"
    "except SystemExit as done:\n"
    "    from pydantic.plugin import _loader\n"
    "    sys.stderr.write(f'code={done.code} scanned={_loader._plugins is not None}\\n')\n"
)


@pytest.mark.parametrize(("preset", "scanned"), [(None, False), ("", True)])
def test_config_validate_skips_pydantic_plugin_scan(tmp_path: Path, preset: str | None, scanned: bool) -> None:
    """The entry-point scan for pydantic plugins (~15 ms, more in a guest) is off unless asked for."""
    import os

    path = tmp_path / "cluster-config.json"
    path.write_text(json.dumps(VALID))
    path.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if preset is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset  # a caller's own setting is kept
    done = subprocess.run(
        [sys.executable, "-c", MAIN_PROBE, "config", "validate", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert done.stderr.strip().splitlines()[-1] == f"code=0 scanned={scanned}", done.stderr


VALID = {
    "node_id": "node01",
    "node_role": "control-plane",
    "bootstrap": True,
    "cluster_name": "bench",
    "leader_url": "http://127.0.0.1:2379",
    "raft_addr": "127.0.0.1:2380",
    "initial_peers": ["node01=127.0.0.1:2380"],
}
