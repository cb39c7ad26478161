"""The NixOS module evaluated offline (shared/nix-eval, `--strict`) against nix/units.json.

The evaluator and nixpkgs' lib come from ../shared (or $FBA_SHARED), as in CI; see conftest.
Whole configurations: test_nixos_configurations.py; the flake's other outputs: test_flake_outputs.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.nix.conftest import ROOT, ModuleEval

GRAPH: dict[str, Any] = json.loads((ROOT / "nix" / "units.json").read_text())
SERVICES = sorted({u["service"] for u in GRAPH["units"] if u["service"]})
FIXTURE = ROOT / "tests" / "integration" / "nix" / "fixtures" / "nixos-builtin-users.nix"
STANDINS = [a for s in SERVICES for a in ("--module-file", f"nix/modules/standin-{s}.nix")]
ENABLE = [a for p in ["services.first-boot-automation", *[f"services.standin-{s}" for s in SERVICES]]
          for a in ("--enable", p)]  # fmt: skip
# Imported files are not scanned for package names by the evaluator; name ours.
PKGS = ["--pkg", "first-boot-automation", "--pkg", "fba-standins"]
MODULE = "nix/modules/first-boot-automation.nix"


def evaluate(module_eval: ModuleEval, *args: str) -> dict[str, Any]:
    done = module_eval.run("--strict", "--compact", *PKGS, *args)
    assert done.returncode == 0, f"nix_module_eval {' '.join(args)} failed (rc {done.returncode}):\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_module_units_equal_units_json(module_eval: ModuleEval) -> None:
    services = evaluate(module_eval, MODULE, *STANDINS, *ENABLE)
    for unit in GRAPH["units"]:
        got = services[unit["name"].removesuffix(".service")]
        for key in ("after", "before", "requires", "wants", "wantedBy"):
            assert got.get(key, []) == unit[key], f"{unit['name']}: {key}"
        config = got["serviceConfig"]
        assert config["Type"] == unit["type"]
        assert config["RemainAfterExit"] == unit["remainAfterExit"]
        assert (config["SuccessExitStatus"] or []) == unit["successExitStatus"]
        assert config["Restart"] == unit["restart"]
        assert config["ExecStart"].endswith("-first-boot-automation/bin/fba " + " ".join(unit["argv"]))
    assert "first-boot-provision" not in services


def test_provisioning_unit_runs_before_everything_it_feeds(module_eval: ModuleEval) -> None:
    source = "/run/cluster-secrets"
    services = evaluate(
        module_eval,
        MODULE,
        *STANDINS,
        *ENABLE,
        "--set",
        f'services.first-boot-automation.provisioning.source="{source}"',
    )
    provision = services["first-boot-provision"]
    names = [u["name"] for u in GRAPH["units"]]
    assert provision["before"] == names + [f"{s}.service" for s in SERVICES]
    assert provision["requiredBy"] == names
    assert provision["serviceConfig"]["ExecStart"].endswith(f"/bin/fba provision --source {source}")
    assert provision["unitConfig"] == {"ConditionPathIsDirectory": source}


def test_writable_paths_reach_every_units_read_write_paths(module_eval: ModuleEval) -> None:
    """Break 12, K13: the units' ProtectSystem=strict leaves every path outside ReadWritePaths
    read-only; the module's `writablePaths` (a textfile collector's directory) is added to
    units.json's own list, in every automation unit, as `fba units render --writable` does."""
    extra = "/var/lib/prometheus-node-exporter/text-files"
    setting = f'services.first-boot-automation.writablePaths=["{extra}"]'
    for unit in GRAPH["units"]:
        attr = f"systemd.services.{unit['name'].removesuffix('.service')}.serviceConfig.ReadWritePaths"
        paths = evaluate(module_eval, MODULE, *STANDINS, *ENABLE, "--set", setting, "--attr", attr)
        assert paths == [f"-{d}" for d in GRAPH["writableDirs"]] + [f"-{extra}"], unit["name"]


def test_tmpfiles_state_dir_is_private(module_eval: ModuleEval) -> None:
    rules = evaluate(module_eval, MODULE, *STANDINS, *ENABLE, "--attr", "systemd.tmpfiles.rules")
    assert f"d {GRAPH['stateDir']} {GRAPH['stateDirMode']} root root - -" in rules


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*ENABLE[:2]],
            "services.first-boot-automation.services contains `chainfire', but no chainfire.service is defined",
        ),
        (
            [*STANDINS, *ENABLE, "--set", 'services.first-boot-automation.services=["flaredb"]'],
            "requires chainfire-cluster-join.service, which is not generated for the selected services [flaredb]",
        ),
        (
            [*STANDINS, *ENABLE, "--set", 'services.first-boot-automation.stateDir="/srv/fba"'],
            "services.first-boot-automation.stateDir: got `/srv/fba'; it must be under /var/lib/",
        ),
        (
            [*STANDINS, *ENABLE, "--set", 'services.first-boot-automation.writablePaths=["textfiles"]'],
            "services.first-boot-automation.writablePaths: got [textfiles]; give absolute directories",
        ),
    ],
    ids=["service-unit-missing", "requirement-not-selected", "state-dir-outside-var-lib", "writable-path-relative"],
)
def test_assertions_explain_the_fix(module_eval: ModuleEval, args: list[str], message: str) -> None:
    done = module_eval.run(*PKGS, MODULE, *args)
    assert done.returncode == 1
    assert "Failed assertions" in done.stderr
    assert message in done.stderr


def test_flake_default_module_evaluates(module_eval: ModuleEval) -> None:
    services = evaluate(
        module_eval, "--flake", ".", "--module-file", str(FIXTURE),
        "--set", "services.first-boot-automation.services=[]",
    )  # fmt: skip
    assert services["cluster-health-check"]["serviceConfig"]["Type"] == "oneshot"
