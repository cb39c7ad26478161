"""`fba` loads only what a command runs: no config model (pydantic) for `--help` or `status`.

Every unit start on a slow guest pays for `fba`'s imports (bench/fba_startup.py measures it);
this checks the rule, in a fresh interpreter per command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = (
    "import json, sys\n"
    "from automation.cli import run\n"
    "code = run(sys.argv[1:], {})\n"
    "sys.stderr.write(json.dumps({'code': code, 'modules': sorted(sys.modules)}) + '\\n')\n"
)
HEAVY = ("pydantic", "automation.spec.config", "automation.configfile", "automation.http")


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


def test_status_loads_no_config_model(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    code, modules = modules_of(["status", "--state-dir", str(state)])
    assert code in (0, 1, 2)
    assert "automation.status" in modules
    assert not modules & {*HEAVY, "tenacity"}, sorted(modules & {*HEAVY, "tenacity"})


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
