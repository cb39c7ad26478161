"""The flake's outputs that are not builds evaluate offline: the output tree, every
`nixosModules` entry (`--strict`), the overlay and the `cluster-test` app.

Through the wrapper flake of stub_flake.py (stand-in nixpkgs and disko); the configurations
themselves are in test_nixos_configurations.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.nix.conftest import ROOT, ModuleEval
from tests.integration.nix.stub_flake import MODULE_STUBS, stub_module_args, write_stub_flake

SERVICES = ("chainfire", "flaredb", "iam")
MODULES = ("first-boot-automation", "default", *(f"standin-{s}" for s in SERVICES))
# the stand-in module files as such (not the flake's wrappers, which bring their package)
STANDINS = ["--pkg", "fba-standins", *(a for s in SERVICES for a in ("--module-file", f"nix/modules/standin-{s}.nix"))]


@pytest.fixture(scope="module")
def flake(module_eval: ModuleEval, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stub_flake(tmp_path_factory.mktemp("stub-flake"))


@pytest.fixture(scope="module")
def outputs(module_eval: ModuleEval, flake: Path) -> dict[str, Any]:
    done = module_eval.run("--flake", str(flake), "--flake-outputs", "--compact")
    assert done.returncode == 0, f"--flake-outputs failed (rc {done.returncode}):\n{done.stderr}"
    shape: dict[str, Any] = json.loads(done.stdout)["outputs"]
    return shape


def test_output_tree(outputs: dict[str, Any]) -> None:
    nodes = sorted(p.parent.name for p in (ROOT / "vms").glob("*/configuration.nix"))
    assert nodes == ["node01", "node02", "node03"]
    assert sorted(outputs["nixosConfigurations"]) == sorted([*nodes, "netboot-control-plane"])
    assert sorted(outputs["nixosModules"]) == sorted(MODULES)
    assert outputs["overlays"] == {"default": "function"}
    system = "x86_64-linux"
    apps = ["fba", "standins", "cluster-test", "fba-inject"]
    netboot = ["netboot", "netboot-kernel", "netboot-initrd", "netboot-ipxe"]
    assert sorted(outputs["packages"][system]) == sorted([*apps, "default", *netboot])
    assert sorted(outputs["apps"][system]) == ["cluster-test"]
    assert sorted(outputs["checks"][system]) == sorted(
        ["cluster-test", "fba", "fba-inject", "standins", "units-json-fresh", "vm-bootstrap"]
    )
    assert sorted(outputs["devShells"][system]) == ["default"]
    # the overlay's packages under the flake's names
    assert outputs["packages"][system]["fba"].startswith("derivation first-boot-automation-")
    assert outputs["packages"][system]["standins"].startswith("derivation fba-standins-")
    assert outputs["packages"][system]["cluster-test"].startswith("derivation fba-cluster-test-")
    assert outputs["packages"][system]["fba-inject"].startswith("derivation fba-inject")


@pytest.mark.parametrize("name", MODULES)
def test_nixos_module_evaluates_strictly(module_eval: ModuleEval, flake: Path, name: str) -> None:
    if name.startswith("standin-"):
        args = ["--enable", f"services.{name}"]
    else:  # the automation orders against the services' units: give it the stand-ins
        args = [*STANDINS, "--enable", "services.first-boot-automation",
                *(a for s in SERVICES for a in ("--enable", f"services.standin-{s}"))]  # fmt: skip
    done = module_eval.run(
        "--flake", str(flake), "--nixos-module", name, *stub_module_args(*MODULE_STUBS), "--strict", "--compact", *args
    )  # fmt: skip
    assert done.returncode == 0, f"nixosModules.{name} failed (rc {done.returncode}):\n{done.stderr}"
    assert "is not declared by the stub" not in done.stderr, done.stderr
    services = json.loads(done.stdout)
    if name.startswith("standin-"):
        service = name.removeprefix("standin-")
        assert services[service]["serviceConfig"]["ExecStart"].split()[0].endswith(f"/bin/standin-{service}")
    else:
        join = services["chainfire-cluster-join"]["serviceConfig"]["ExecStart"]
        assert join.endswith("/bin/fba join --service chainfire")


def test_cluster_test_app_evaluates(module_eval: ModuleEval, flake: Path) -> None:
    app = module_eval.flake_outputs(flake, "out.apps.x86_64-linux.cluster-test")
    assert app["type"] == "app"
    assert app["program"].startswith("/nix/store/")
    assert app["program"].endswith("/bin/cluster-test-nix")
