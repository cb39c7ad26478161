"""Every `nixosConfigurations` entry of the flake evaluates offline with `--strict`.

The evaluator's NixOS stub (../shared/nix-eval) with its users-groups.nix lock-out assertion,
plus our stubs of what it leaves out (tests/integration/nix/stubs/, each naming the nixpkgs
or disko file it mirrors). Anything our files set that neither declares fails the test, so a
misspelt option cannot pass as "not modelled".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.nix.conftest import ROOT, ModuleEval
from tests.integration.nix.nixos_eval import evaluate, run_config
from tests.integration.nix.stub_flake import write_stub_flake

NODES = ("node01", "node02", "node03")
CONFIGS = (*NODES, "netboot-control-plane")


@pytest.fixture(scope="module")
def flake(module_eval: ModuleEval, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stub_flake(tmp_path_factory.mktemp("stub-flake"))


@pytest.mark.parametrize("name", CONFIGS)
def test_configuration_evaluates_strictly(module_eval: ModuleEval, flake: Path, name: str) -> None:
    services = evaluate(module_eval, flake, name)
    assert services["cluster-health-check"]["serviceConfig"]["Type"] == "oneshot"
    for unit in ("chainfire", "flaredb", "iam"):
        assert unit in services


@pytest.mark.parametrize("name", CONFIGS)
def test_lock_out_assertion_is_what_allow_no_password_login_answers(
    module_eval: ModuleEval, flake: Path, name: str, tmp_path: Path
) -> None:
    # Without the switch the configuration is exactly what NixOS 25.05 refused: immutable
    # users, root without password or declared key, keys only in a file sshd reads at run time.
    without = tmp_path / "without-switch.nix"
    without.write_text("{ lib, ... }: { users.allowNoPasswordLogin = lib.mkForce false; }\n")
    done = run_config(module_eval, flake, name, "--module-file", str(without))
    assert done.returncode == 1
    assert "Neither the root account nor any wheel user has a password or SSH authorized key" in done.stderr


@pytest.mark.parametrize("name", CONFIGS)
def test_no_password_login_and_keys_only_from_the_injected_file(
    module_eval: ModuleEval, flake: Path, name: str
) -> None:
    got = evaluate(
        module_eval, flake, name,
        "--attr", "users.mutableUsers", "--attr", "users.users.root.hashedPassword",
        "--attr", "users.users.root.openssh.authorizedKeys", "--attr", "services.openssh.settings",
        "--attr", "services.openssh.authorizedKeysFiles",
    )  # fmt: skip
    assert got["users.mutableUsers"] is False
    assert got["users.users.root.hashedPassword"] == "!"
    assert got["users.users.root.openssh.authorizedKeys"] == {"keys": [], "keyFiles": []}
    settings = got["services.openssh.settings"]
    assert settings["PasswordAuthentication"] is False
    assert settings["KbdInteractiveAuthentication"] is False
    assert settings["PermitRootLogin"] == "prohibit-password"
    # netboot: written there by fba-inject from fw_cfg; nodes: by nixos-anywhere --extra-files
    assert "/etc/nixos/secrets/authorized_keys" in got["services.openssh.authorizedKeysFiles"]


@pytest.mark.parametrize("name", NODES)
def test_node_file_systems_come_from_its_disko_layout(module_eval: ModuleEval, flake: Path, name: str) -> None:
    got = evaluate(module_eval, flake, name, "--attr", "fileSystems", "--attr", "boot.loader.efi.efiSysMountPoint")
    mounts = got["fileSystems"]
    assert {m: (fs["device"], fs["fsType"]) for m, fs in mounts.items()} == {
        "/": ("/dev/disk/by-partlabel/disk-main-root", "ext4"),
        "/boot": ("/dev/disk/by-partlabel/disk-main-ESP", "vfat"),
        "/var/lib": ("/dev/disk/by-partlabel/disk-main-varlib", "ext4"),
    }
    # systemd-boot installs into the ESP: the loader's mount point must be the vfat partition.
    assert mounts[got["boot.loader.efi.efiSysMountPoint"]]["options"] == ["umask=0077"]


@pytest.mark.parametrize("name", NODES)
def test_node_identity_and_hosts_come_from_the_cluster_configs(module_eval: ModuleEval, flake: Path, name: str) -> None:
    got = evaluate(module_eval, flake, name, "--attr", "networking.hostName", "--attr", "networking.hosts")
    configs = [json.loads((ROOT / "vms" / n / "cluster-config.json").read_text()) for n in NODES]
    assert got["networking.hostName"] == name
    assert got["networking.hosts"] == {c["raft_addr"].rpartition(":")[0]: [c["node_id"]] for c in configs}


def test_netboot_image_outputs_evaluate(module_eval: ModuleEval, flake: Path) -> None:
    got = evaluate(
        module_eval, flake, "netboot-control-plane",
        "--attr", "system.boot.loader.kernelFile", "--attr", "boot.kernelParams", "--attr", "networking.hostName",
    )  # fmt: skip
    assert got["system.boot.loader.kernelFile"] == "bzImage"
    assert "console=ttyS0,115200n8" in got["boot.kernelParams"]
    assert got["networking.hostName"] == ""  # one image: the name comes from the injected blob


@pytest.mark.parametrize(
    ("name", "mistake", "message"),
    [
        ("netboot-control-plane", 'services.openssh.settings.PermitRootLogin = lib.mkForce "without-pasword";',
         "PermitRootLogin: `without-pasword' is not one of"),
        ("netboot-control-plane", "services.openssh.settings.passwordAuthentication = false;",
         "Duplicate sshd config key"),
        ("node01", 'systemd.network.networks."10-cluster".matchConfig.Nmae = "en*";',
         "matchConfig: key(s) not valid in [Match]: Nmae"),
        ("node01", 'systemd.network.networks."10-cluster".adress = [ "10.0.0.1/24" ];',
         "systemd.network.networks.10-cluster: unknown option(s) adress"),
        ("netboot-control-plane", "systemd.services.cluster-health-check.serviceConfig.StartLimitIntervalSec = 1800;",
         "serviceConfig sets StartLimitIntervalSec: that is [Unit] material"),
        ("node01", 'networking.hostName = lib.mkForce "node01.example";',
         "networking.hostName `node01.example' does not match"),
        ("node01", 'users.users.root.password = "x";', "The user 'root' has multiple of the options"),
        ("node01", "disko.enableConfig = false;", "does not specify your root file system"),
        ("node01", "boot.loader.systemd-boot.enable = lib.mkForce false;", "boot.loader.grub.devices"),
        ("netboot-control-plane", 'boot.kernelParams = [ "console=ttyS0 quiet" ];', "is not a kernel parameter"),
    ],
    ids=["permit-root-login", "duplicate-sshd-key", "match-key", "network-option", "start-limit-in-service",
         "hostname", "two-passwords", "no-root-fs", "no-boot-loader", "kernel-param"],
)  # fmt: skip
def test_modelled_nixos_checks_fail(
    module_eval: ModuleEval, flake: Path, tmp_path: Path, name: str, mistake: str, message: str
) -> None:
    module = tmp_path / "mistake.nix"
    module.write_text(f"{{ lib, ... }}: {{ {mistake} }}\n")
    done = run_config(module_eval, flake, name, "--module-file", str(module), "--strict")
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
