"""Running Nix here: Debian's nix-instantiate (2.8) and the shared offline module evaluator.

`nix-instantiate` is the only hard requirement (CI installs nix-bin). The module evaluation
uses the evaluator and nixpkgs' lib/ from the shared directory: `../shared` beside the
repository (where CI puts it) or `$FBA_SHARED`; `$NIXPKGS_LIB` overrides the lib. Those tests
skip, with a reason that says so, only when the shared directory is absent; a shared
directory without the lib is a broken set-up and fails them.
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
SHARED = Path(os.environ.get("FBA_SHARED") or ROOT.parent / "shared")
EVALUATOR = SHARED / "nix-eval" / "nix_module_eval.sh"
NIXPKGS_LIB = Path(os.environ.get("NIXPKGS_LIB") or SHARED / "nixpkgs-lib")
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
        return _run(["bash", str(self.script), *args], env=dict(os.environ, NIXPKGS_LIB=str(NIXPKGS_LIB)))

    def eval_json(self, expr: str) -> Any:
        """A Nix expression that may import the evaluator's nix_module_eval.nix (needs NIXPKGS_LIB)."""
        env = dict(os.environ, NIXPKGS_LIB=str(NIXPKGS_LIB))
        done = _run(["nix-instantiate", *NIX_FLAGS, "--eval", "--strict", "--json", "-E", expr], env=env)
        assert done.returncode == 0, f"nix-instantiate -E failed (rc {done.returncode}):\n{done.stderr}"
        return json.loads(done.stdout)

    def flake_outputs(self, flake: Path, select: str) -> Any:
        """`select` applied to `out`, our flake's outputs with the evaluator's nixpkgs stub as
        the wrapper hands it over (`self` is the outputs themselves; `--flake` cannot print an
        app's program or a package's text). E.g. `out.apps.x86_64-linux.cluster-test`."""
        nixpkgs = json.dumps(str(SHARED / "nix-eval" / "nix_module_eval.nix"))
        return self.eval_json(f"""
          let
            wrapper = import (/. + {json.dumps(str(flake / "flake.nix"))});
            nixpkgs = import (/. + {nixpkgs}) {{ flakeInput = "nixpkgs"; }};
            out = wrapper.outputs {{ self = out; inherit nixpkgs; }};
          in {select}
        """)


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=DEADLINE_S, env=env, check=False)


@pytest.fixture(scope="session")
def nix() -> Nix:
    found = shutil.which("nix-instantiate")
    if found is None:
        # scripts/setup.sh installs nix-bin: without it the unit mapping goes unchecked, so fail.
        pytest.fail("nix-instantiate not found: run scripts/setup.sh (it installs Debian's nix-bin)", pytrace=False)
    return Nix(found)


@pytest.fixture(scope="session")
def module_eval(nix: Nix) -> ModuleEval:
    if not SHARED.is_dir():
        pytest.skip(
            f"NOT RUN: no shared directory at {SHARED} (CI has ../shared beside the clone; "
            "set FBA_SHARED=/path/to/shared): the NixOS configurations were not evaluated"
        )
    if not EVALUATOR.is_file():
        pytest.fail(f"{SHARED} exists but holds no evaluator at {EVALUATOR}")
    if not (NIXPKGS_LIB / "lib" / "default.nix").is_file():
        pytest.fail(f"no nixpkgs lib at {NIXPKGS_LIB}/lib (see {SHARED}/nix-eval/README.md; NIXPKGS_LIB overrides)")
    return ModuleEval(EVALUATOR)
