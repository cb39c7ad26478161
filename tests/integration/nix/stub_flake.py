"""Our flake with stand-in inputs, for the offline evaluator.

The evaluator fakes a flake's inputs by kind: `nixpkgs` becomes its stub, any other input a bare
`{ outPath }`, so `disko.nixosModules.disko` (node01-03) is missing, and `import nixpkgs { ... }`
gives a package set without the names the evaluator would fake from `--pkg`. The wrapper flake
written here calls our flake's `outputs` with the evaluator's nixpkgs stub, extended by fake
packages for every `pkgs.NAME` our .nix files use, and `tests/integration/nix/stubs/disko.nix`
as disko's module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.nix.conftest import ROOT, SHARED

STUBS = ROOT / "tests" / "integration" / "nix" / "stubs"
# Modules of ours that declare or check what the evaluator's NixOS stub leaves out (each
# file names the nixpkgs module it mirrors). A whole system gets them all; a lone module
# (no file systems, no boot loader) the unit checks.
SYSTEM_STUBS = ("filesystems", "boot", "sshd", "networking", "units", "users")
MODULE_STUBS = ("units",)
_PKG = re.compile(r"\bpkgs\.([A-Za-z_][A-Za-z0-9_'-]*)")


def stub_module_args(*names: str) -> list[str]:
    return [a for name in names for a in ("--module-file", str(STUBS / f"{name}.nix"))]


def package_names() -> list[str]:
    names = {m for path in ROOT.rglob("*.nix") if ".venv" not in path.parts for m in _PKG.findall(path.read_text())}
    return sorted(names)


def write_stub_flake(directory: Path) -> Path:
    """Writes DIRECTORY/flake.nix (and its nixpkgs entry point); returns DIRECTORY."""
    names = " ".join(json.dumps(n) for n in package_names())
    (directory / "nixpkgs").mkdir(parents=True, exist_ok=True)
    (directory / "nixpkgs" / "default.nix").write_text(
        "# `import nixpkgs { ... }` inside our flake: the evaluator's stub package set plus fake\n"
        "# packages for the names our files use (the ones it does not already have).\n"
        f"args: import (/. + {json.dumps(str(SHARED / 'nix-eval' / 'nix_module_eval.nix'))}) (args // {{\n"
        "  overlays = (args.overlays or [ ]) ++ [\n"
        f"    (final: prev: prev.lib.genAttrs [ {names} ] (n: prev.${{n}} or (prev.linkFarm n [ ])))\n"
        "  ];\n"
        "})\n"
    )
    (directory / "flake.nix").write_text(
        "{\n"
        '  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";\n'
        "  outputs = { self, nixpkgs }:\n"
        f"    (import (/. + {json.dumps(str(ROOT / 'flake.nix'))})).outputs {{\n"
        "      inherit self;\n"
        "      nixpkgs = nixpkgs // { outPath = ./nixpkgs; };\n"
        "      disko = {\n"
        '        outPath = "/nix-module-eval-stub/inputs/disko";\n'
        f"        nixosModules.disko = /. + {json.dumps(str(STUBS / 'disko.nix'))};\n"
        "      };\n"
        "    };\n"
        "}\n"
    )
    return directory
