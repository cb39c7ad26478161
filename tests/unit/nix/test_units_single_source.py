"""The Nix side reads the unit graph from nix/units.json; nothing in Nix retypes it.

- nix/units.json is byte-for-byte what `python -m automation.render` prints.
- No .nix file names an automation unit: the module, the netboot image, the VM test and the
  node configurations all take unit names from units.json.
- The first-boot module does not name the units it orders against either.
- The nodes' cluster-config.json files pass the automation's own schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from automation.render import units_json
from automation.spec.config import ClusterConfig
from automation.spec.units import AUTOMATION_UNITS, EXTERNAL_UNITS

ROOT = Path(__file__).resolve().parents[3]
UNITS_JSON = ROOT / "nix" / "units.json"
NIX_DIRS = ("nix", "netboot", "vms")
VM_DIRS = sorted(p.parent for p in (ROOT / "vms").glob("*/cluster-config.json"))


def nix_files() -> list[Path]:
    files = [ROOT / "flake.nix"] if (ROOT / "flake.nix").exists() else []
    for top in NIX_DIRS:
        files += sorted((ROOT / top).rglob("*.nix"))
    return files


def test_units_json_is_the_renderer_output() -> None:
    rendered = units_json()
    on_disk = UNITS_JSON.read_text(encoding="utf-8")
    assert on_disk == rendered, (
        "nix/units.json differs from automation/spec/units.py; "
        "run `.venv/bin/python -m automation.render > nix/units.json`"
    )


def test_there_are_nix_files_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in nix_files()}
    assert {"flake.nix", "nix/modules/first-boot-automation.nix", "nix/lib/units.nix"} <= names


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_nix_file_names_an_automation_unit(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for unit in AUTOMATION_UNITS:
        stem = unit.name.removesuffix(".service")
        assert not re.search(rf"(?<![\w-]){re.escape(stem)}(?![\w-])", text), (
            f"{path.relative_to(ROOT)} names {unit.name}; take unit names from nix/units.json "
            "(nix/lib/units.nix) instead"
        )


def test_first_boot_module_has_no_hand_typed_ordering() -> None:
    path = ROOT / "nix" / "modules" / "first-boot-automation.nix"
    text = path.read_text(encoding="utf-8")
    for unit in EXTERNAL_UNITS:
        assert f'"{unit}"' not in text, f"{path.relative_to(ROOT)} types {unit}; read it from units.json"
    for key in ("after", "before", "requires", "wants"):
        literal = re.search(rf"\b{key}\s*=\s*\[\s*\"", text)
        assert literal is None, f"{path.relative_to(ROOT)}: literal {key} list; derive it from units.json"


def test_units_library_reads_units_json() -> None:
    text = (ROOT / "nix" / "lib" / "units.nix").read_text(encoding="utf-8")
    assert "builtins.fromJSON (builtins.readFile ../units.json)" in text


def test_three_vm_nodes() -> None:
    assert [d.name for d in VM_DIRS] == ["node01", "node02", "node03"]


@pytest.mark.parametrize("node_dir", VM_DIRS, ids=lambda p: p.name)
def test_node_cluster_config_is_valid(node_dir: Path) -> None:
    index = int(node_dir.name.removeprefix("node"))
    config = ClusterConfig.model_validate(json.loads((node_dir / "cluster-config.json").read_text()), strict=False)
    assert config.node_id == node_dir.name
    assert config.bootstrap is True
    assert config.raft_addr == f"10.77.0.{10 + index}:2380"
    assert config.initial_peers == ["node01:2380", "node02:2380", "node03:2380"]
    assert config.leader_url == "http://node01:2379"
    assert config.cluster_name == "fba-test"
    for name in ("configuration.nix", "disko.nix"):
        assert (node_dir / name).is_file(), f"vms/{node_dir.name}/{name} is missing"
