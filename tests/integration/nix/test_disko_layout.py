"""vms/*/disko.nix against a stub of disko's module (tests/integration/nix/stubs/disko.nix, from
disko's lib/types/{disk,gpt,filesystem}.nix): a misspelt key, a wrong `type`, a size sgdisk
would not take or a relative mount point fails here instead of at install time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.nix.conftest import ROOT, ModuleEval
from tests.integration.nix.stub_flake import stub_module_args

LAYOUT = ROOT / "vms" / "disko-layout.nix"
DISKO_FILES = sorted(ROOT.glob("vms/*/disko.nix"))
STUBS = stub_module_args("disko", "filesystems")


def file_systems(module_eval: ModuleEval, module: Path) -> tuple[int, str, str]:
    done = module_eval.run(str(module), "--no-enable", *STUBS, "--attr", "fileSystems", "--strict", "--compact")
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("path", DISKO_FILES, ids=lambda p: p.parent.name)
def test_layout_evaluates_to_the_file_systems(module_eval: ModuleEval, path: Path) -> None:
    rc, out, err = file_systems(module_eval, path)
    assert rc == 0, err
    assert "is not declared by the stub" not in err, err
    mounts = json.loads(out)
    assert {m: fs["fsType"] for m, fs in mounts.items()} == {"/": "ext4", "/boot": "vfat", "/var/lib": "ext4"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('type = "filesystem";', 'type = "filesytem";', "disko content type `filesytem'"),
        ('size = "8G";', 'size = "8 GiB";', "partitions.root.size"),
        ('mountpoint = "/var/lib";', 'mountpoint = "var/lib";', "content.mountpoint"),
        ('mountOptions = [ "umask=0077" ];', 'mountOption = [ "umask=0077" ];', "mountOption' does not exist"),
        ('type = "EF00";', 'type = "EFI";', "partitions.ESP.type"),
        ('type = "gpt";', 'type = "msdos";', "disko content type `msdos'"),
    ],
    ids=["content-type", "size", "relative-mountpoint", "misspelt-key", "partition-type", "table-type"],
)
def test_layout_typo_fails(module_eval: ModuleEval, tmp_path: Path, old: str, new: str, message: str) -> None:
    text = LAYOUT.read_text()
    assert old in text, f"the layout no longer holds {old!r}: update this test"
    (tmp_path / "disko-layout.nix").write_text(text.replace(old, new, 1))
    module = tmp_path / "disko.nix"
    module.write_text('import ./disko-layout.nix { device = "/dev/vda"; }\n')
    rc, _, err = file_systems(module_eval, module)
    assert rc == 1
    assert message in err, err
