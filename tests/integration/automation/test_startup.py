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
