"""Evaluating one `nixosConfigurations` entry of the stub flake offline (--strict), shared by
the tests of the configurations and of the netboot guest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.nix.conftest import ModuleEval
from tests.integration.nix.stub_flake import SYSTEM_STUBS, package_names, stub_module_args

UNDECLARED = "is not declared by the stub"


def config_args(name: str) -> list[str]:
    # --pkg: the configurations' pkgs is the evaluator's own set, which fakes only common names.
    packages = [a for n in package_names() for a in ("--pkg", n)]
    netboot = ["netboot-filesystems"] if name == "netboot-control-plane" else []
    return [*stub_module_args(*SYSTEM_STUBS, *netboot), *packages]


def run_config(module_eval: ModuleEval, flake: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return module_eval.run("--flake", str(flake), "--nixos-config", name, *config_args(name), *args)


def evaluate(module_eval: ModuleEval, flake: Path, name: str, *args: str) -> Any:
    done = run_config(module_eval, flake, name, "--strict", "--compact", *args)
    assert done.returncode == 0, f"nixosConfigurations.{name} failed (rc {done.returncode}):\n{done.stderr}"
    undeclared = "\n".join(line for line in done.stderr.splitlines() if UNDECLARED in line)
    assert not undeclared, f"options neither the evaluator nor tests/integration/nix/stubs declare:\n{undeclared}"
    return json.loads(done.stdout)
