"""Running Nix here: Debian's nix-instantiate (2.8) and the shared offline module evaluator.

`nix-instantiate` is the only hard requirement (CI installs nix-bin); the module evaluation
also needs nixpkgs' lib/ in ~/.cache/nixpkgs-lib (see ../shared/nix-eval/README.md), which CI
does not have, so those tests skip there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
EVALUATOR = ROOT.parent / "shared" / "nix-eval" / "nix_module_eval.sh"
NIXPKGS_LIB = Path(os.environ.get("NIXPKGS_LIB", Path.home() / ".cache" / "nixpkgs-lib"))
DEADLINE_S = 120
# No store writes, no daemon, no warning about a missing nixbld group.
NIX_FLAGS = ("--store", "dummy://", "--option", "build-users-group", "")


@dataclass(frozen=True)
class Nix:
    instantiate: str

    def parse(self, path: Path) -> subprocess.CompletedProcess[str]:
        return _run([self.instantiate, *NIX_FLAGS, "--parse", str(path)])

    def eval_json(self, path: Path, *args: str) -> Any:
        done = _run([self.instantiate, *NIX_FLAGS, "--eval", "--strict", "--json", str(path), *args])
        assert done.returncode == 0, f"nix-instantiate --eval {path} failed (rc {done.returncode}):\n{done.stderr}"
        return json.loads(done.stdout)


@dataclass(frozen=True)
class ModuleEval:
    script: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, NIXPKGS_LIB=str(NIXPKGS_LIB))
        return _run(["bash", str(self.script), *args], env=env)


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=DEADLINE_S, env=env, check=False)


@pytest.fixture(scope="session")
def nix() -> Nix:
    found = shutil.which("nix-instantiate")
    if found is None:
        pytest.skip("nix-instantiate not found: install Debian's nix-bin (apt-get install -y nix-bin)")
    return Nix(found)


@pytest.fixture(scope="session")
def module_eval(nix: Nix) -> ModuleEval:
    if not EVALUATOR.is_file():
        pytest.skip(f"shared evaluator {EVALUATOR} not found (shared/ is not beside the repository)")
    if not (NIXPKGS_LIB / "lib" / "default.nix").is_file():
        pytest.skip(
            f"nixpkgs lib not found at {NIXPKGS_LIB}/lib: CI has no copy; to run these, follow "
            "shared/nix-eval/README.md (git archive nix-community/nixpkgs.lib at the pinned commit "
            "into ~/.cache/nixpkgs-lib)"
        )
    return ModuleEval(EVALUATOR)
