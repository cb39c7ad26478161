"""Every .nix file of the repository parses (`nix-instantiate --parse`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.nix.conftest import ROOT, Nix


def nix_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.nix"],
        capture_output=True, text=True, cwd=ROOT, timeout=30, check=False,
    )  # fmt: skip
    if listed.returncode == 0 and listed.stdout.strip():
        return [ROOT / line for line in sorted(listed.stdout.splitlines()) if (ROOT / line).is_file()]
    return sorted(p for p in ROOT.rglob("*.nix") if ".venv" not in p.parts)


def test_flake_and_modules_are_listed() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in nix_files()}
    assert "flake.nix" in names
    assert "nix/modules/first-boot-automation.nix" in names


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_parses(nix: Nix, path: Path) -> None:
    done = nix.parse(path)
    assert done.returncode == 0, f"{path.relative_to(ROOT)} does not parse:\n{done.stderr}"
