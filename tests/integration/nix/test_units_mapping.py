"""The Nix module's units equal the Debian image's units: both come from the same data.

`nix/tests/units-mapping.nix` evaluates nix/lib/units.nix (the mapping the module uses) with
bare builtins; each unit is compared, directive by directive, with what
`automation.render.systemd_unit` writes for the Debian image, and with `python -m
automation.render` (the generator of nix/units.json) run as a process.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from automation.render import systemd_unit
from automation.spec.units import AUTOMATION_UNITS, UnitSpec
from tests.integration.nix.conftest import ROOT, Nix

MAPPING = ROOT / "nix" / "tests" / "units-mapping.nix"
FBA = "/nix/store/00000000000000000000000000000000-first-boot-automation/bin/fba"
# [Unit] directives the NixOS module sets through dedicated options.
UNIT_OPTIONS = {
    "After": "after",
    "Before": "before",
    "Requires": "requires",
    "Wants": "wants",
    "Documentation": "documentation",
    "StartLimitIntervalSec": "startLimitIntervalSec",
    "StartLimitBurst": "startLimitBurst",
}


def systemd_value(value: Any) -> str:
    """A NixOS option value as systemd reads it (booleans: yes/true alike)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(systemd_value(v) for v in value)
    return str(value)


def directives(unit_text: str) -> dict[str, dict[str, str]]:
    """`{section: {key: value}}` of a rendered unit; repeated keys (Environment=) joined."""
    out: dict[str, dict[str, str]] = {}
    section = ""
    for line in unit_text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out[section] = {}
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            prev = out[section].get(key)
            out[section][key] = value if prev is None else f"{prev} {value}"
    return out


@pytest.fixture(scope="module")
def nix_services(nix: Nix) -> dict[str, Any]:
    result: dict[str, Any] = nix.eval_json(MAPPING, "--argstr", "execPrefix", FBA)
    return result


def test_python_render_process_matches_units_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "automation.render"], capture_output=True, cwd=ROOT, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == (ROOT / "nix" / "units.json").read_bytes(), (
        "nix/units.json is stale: run `.venv/bin/python -m automation.render > nix/units.json`"
    )


def test_every_unit_is_generated(nix_services: dict[str, Any]) -> None:
    expected = {u.name.removesuffix(".service") for u in AUTOMATION_UNITS}
    assert set(nix_services["services"]) == expected
    assert nix_services["missingRequirements"] == []


@pytest.mark.parametrize("unit", AUTOMATION_UNITS, ids=lambda u: u.name)
def test_unit_equals_debian_unit(nix_services: dict[str, Any], unit: UnitSpec) -> None:
    nix_unit = nix_services["services"][unit.name.removesuffix(".service")]
    debian = directives(systemd_unit(unit, fba=FBA))

    for key, option in UNIT_OPTIONS.items():
        assert systemd_value(nix_unit[option]) == debian["Unit"].get(key, ""), f"{unit.name}: [Unit] {key}="
    assert nix_unit["description"] == debian["Unit"]["Description"]
    assert systemd_value(nix_unit["wantedBy"]) == debian["Install"]["WantedBy"]

    service = {k: systemd_value(v) for k, v in nix_unit["serviceConfig"].items()}
    environment = " ".join(f'"{k}={v}"' for k, v in nix_unit["environment"].items())
    assert environment == debian["Service"].pop("Environment")
    if not unit.remain_after_exit:
        # render.py omits RemainAfterExit=no (the default); NixOS writes it out.
        assert service.pop("RemainAfterExit") == "no"
    assert service == debian["Service"], f"{unit.name}: [Service] differs between Nix and render.py"


def test_selection_reports_missing_requirements(nix: Nix) -> None:
    flaredb_only = nix.eval_json(MAPPING, "--arg", "services", '[ "flaredb" ]')
    requirements = {(m["unit"], m["requires"]) for m in flaredb_only["missingRequirements"]}
    flaredb_join = next(u for u in AUTOMATION_UNITS if u.service is not None and u.service.value == "flaredb")
    needed = [*flaredb_join.requires, *([flaredb_join.requires_joined] if flaredb_join.requires_joined else [])]
    assert needed, "flaredb's join depends on chainfire's"
    assert requirements == {(flaredb_join.name, r) for r in needed}
