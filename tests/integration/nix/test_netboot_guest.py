"""The NixOS netboot image keeps the harness's guest contract with the Debian image's programs.

One contract (docs/nix.md "Per-node injection"): `netboot/netboot-base.nix` runs the guest
injector `harness/image/guest/fba-inject.py` (package `fba-inject`) with the NixOS paths,
mounts the persistent /var/lib disk with `fba-varlib.sh` and announces readiness with
`fba-ready.sh`, each in its Debian unit's place in the boot order. Evaluated offline through
the wrapper flake; that the image boots and sshd accepts the injected key is verified only
on a Nix host.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.image.codelayer import GUEST_DIR
from harness.image.contract import CLUSTER_NETWORK_FILE, FW_CFG_NAME, FW_CFG_SYSFS
from harness.machine.config import NodeConfig
from harness.machine.qemu import QemuSpec
from tests.integration.nix.conftest import ROOT, ModuleEval
from tests.integration.nix.nixos_eval import evaluate
from tests.integration.nix.stub_flake import write_stub_flake
from tests.unit.harness.image.inject_reader import load_inject_reader

NETBOOT = "netboot-control-plane"
GRAPH = json.loads((ROOT / "nix" / "units.json").read_text())
# The Debian image's sshd unit is ssh.service; NixOS calls it sshd.service.
DEBIAN_TO_NIXOS = {"ssh.service": "sshd.service"}


@pytest.fixture(scope="module")
def flake(module_eval: ModuleEval, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stub_flake(tmp_path_factory.mktemp("stub-flake"))


@pytest.fixture(scope="module")
def netboot(module_eval: ModuleEval, flake: Path) -> dict[str, Any]:
    got: dict[str, Any] = evaluate(
        module_eval, flake, NETBOOT,
        "--attr", "systemd.services.fba-inject", "--attr", "boot.kernelModules",
        "--attr", "services.openssh.authorizedKeysFiles",
        "--attr", "services.first-boot-automation.provisioning.source",
        "--attr", "systemd.services.fba-ready", "--attr", "systemd.services.fba-varlib",
    )  # fmt: skip
    return got


def _default(cls: type, name: str) -> object:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def test_fw_cfg_name_is_the_one_the_harness_attaches() -> None:
    # The Nix file cannot import Python: its literal must equal every Python default.
    literal = re.search(r'fwCfgName = "([^"]+)";', (ROOT / "netboot" / "netboot-base.nix").read_text())
    assert literal is not None
    assert literal[1] == FW_CFG_NAME == _default(QemuSpec, "fw_cfg_name") == _default(NodeConfig, "fw_cfg_name")


def test_unit_runs_the_guest_injector_with_the_nixos_paths(netboot: dict[str, Any]) -> None:
    argv = netboot["systemd.services.fba-inject"]["serviceConfig"]["ExecStart"].split()
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-fba-inject/bin/fba-inject", argv[0]), argv[0]
    options = dict(zip(argv[1::2], argv[2::2], strict=True))
    keys = f"{GRAPH['secretsDir']}/authorized_keys"
    assert options == {
        "--source": FW_CFG_SYSFS,
        "--secrets-dir": GRAPH["secretsDir"],  # the module's configFile lives here
        "--env-file": GRAPH["environmentFile"],  # every automation unit's EnvironmentFile=
        "--network-file": CLUSTER_NETWORK_FILE,  # networkd's runtime directory
        "--authorized-keys": keys,
    }
    parsed = load_inject_reader().parse_args(argv[1:])  # flags the program takes (argparse exits otherwise)
    assert parsed.authorized_keys == keys and parsed.source == FW_CFG_SYSFS
    assert netboot["services.openssh.authorizedKeysFiles"][0] == keys
    # The injector writes cluster-config.json where the services read it: no provisioning unit.
    assert netboot["services.first-boot-automation.provisioning.source"] is None


def test_inject_runs_before_network_and_sshd_once_fw_cfg_is_loaded(netboot: dict[str, Any]) -> None:
    unit = netboot["systemd.services.fba-inject"]
    assert unit["unitConfig"]["DefaultDependencies"] is False
    assert unit["serviceConfig"]["Type"] == "oneshot" and unit["serviceConfig"]["RemainAfterExit"] is True
    assert {"systemd-udevd.service", "systemd-modules-load.service"} <= set(unit["after"])
    assert {"network-pre.target", "systemd-networkd.service", "sshd.service", "sysinit.target"} <= set(unit["before"])
    assert "qemu_fw_cfg" in netboot["boot.kernelModules"]  # loaded by systemd-modules-load


def _debian_order(unit_file: str) -> dict[str, set[str]]:
    debian = configparser.ConfigParser(interpolation=None, strict=False)
    debian.read_string((GUEST_DIR / "units" / unit_file).read_text())
    sections = {"After": "Unit", "Before": "Unit", "Wants": "Unit", "Conflicts": "Unit", "WantedBy": "Install"}
    return {
        key: {DEBIAN_TO_NIXOS.get(u, u) for u in debian[section].get(key, "").split() if not u.startswith("@")}
        for key, section in sections.items()
    }


@pytest.mark.parametrize(
    ("name", "unit_file"),
    [("fba-inject", "fba-inject.service.in"), ("fba-varlib", "fba-varlib.service"), ("fba-ready", "fba-ready.service")],
)
def test_unit_order_is_the_debian_units(netboot: dict[str, Any], name: str, unit_file: str) -> None:
    # @SERVICE_UNITS@ (inject before the services) is covered on NixOS by Before=sysinit.target.
    unit = netboot[f"systemd.services.{name}"]
    keys = {"After": "after", "Before": "before", "Wants": "wants", "Conflicts": "conflicts", "WantedBy": "wantedBy"}
    assert _debian_order(unit_file) == {key: set(unit[attr]) for key, attr in keys.items()}


@pytest.mark.parametrize(
    ("name", "tools"), [("fba-varlib", ["e2fsprogs", "util-linux"]), ("fba-ready", ["gawk", "util-linux"])]
)
def test_shell_units_run_the_debian_images_scripts(netboot: dict[str, Any], name: str, tools: list[str]) -> None:
    unit = netboot[f"systemd.services.{name}"]
    shell, script = unit["serviceConfig"]["ExecStart"].split()
    assert shell.endswith("/bin/bash")
    assert re.fullmatch(rf"/nix/store/[0-9a-z]{{32}}-{name}\.sh", script), script
    # beyond coreutils and systemd (udevadm, systemctl), which NixOS puts on every unit's PATH
    assert sorted(p.rpartition("/")[2].split("-", 1)[1] for p in unit["path"]) == tools


def test_package_installs_the_guest_program_under_nixpkgs_python(
    module_eval: ModuleEval, flake: Path, netboot: dict[str, Any]
) -> None:
    got = module_eval.flake_outputs(
        flake,
        "let p = out.packages.x86_64-linux.fba-inject;"
        " in { inherit (p) name text; main = p.meta.mainProgram; out = p.outPath; }",
    )
    assert got["name"] == "fba-inject" and got["main"] == "fba-inject"
    # The image runs this package (the overlay's), not a stand-in of the same name: the
    # evaluator's store paths hash a derivation's kind and build text.
    execstart = netboot["systemd.services.fba-inject"]["serviceConfig"]["ExecStart"]
    assert execstart.startswith(f"{got['out']}/bin/fba-inject ")
    source = GUEST_DIR / "fba-inject.py"
    shebang = source.read_text().splitlines()[0]
    # --replace-fail stops the build if the program's first line ever changes.
    assert f'--replace-fail "{shebang}" "#!/nix/store/' in got["text"]
    assert re.search(r"install -D -m 0755 /nix/store/[0-9a-z]{32}-fba-inject\.py \$out/bin/fba-inject\n", got["text"])


def test_ready_line_is_announced_once_startup_settles(netboot: dict[str, Any]) -> None:
    # The harness waits for READY_PATTERN on the console; without this unit no node is ready.
    unit = netboot["systemd.services.fba-ready"]
    assert unit["serviceConfig"]["Type"] == "simple"  # is-system-running --wait must not wait for it
    text = (GUEST_DIR / "fba-ready.sh").read_text()
    assert "$(hostname)" not in text  # uname -n: no hostname package needed on NixOS
