"""The NixOS netboot image keeps the harness's guest contract with the Debian image's programs.

One contract (docs/nix.md "Per-node injection"): `netboot/netboot-base.nix` runs the guest
injector `harness/image/guest/fba-inject.py` (package `fba-inject`) with the NixOS paths, in
the Debian unit's place in the boot order, and announces readiness with the same
`fba-ready.sh`. Evaluated offline through the wrapper flake; that the image boots and sshd
accepts the injected key is verified only on a Nix host.
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
from tests.integration.nix.conftest import ROOT, SHARED, ModuleEval
from tests.integration.nix.stub_flake import write_stub_flake
from tests.integration.nix.test_nixos_configurations import evaluate
from tests.unit.harness.image.test_inject import _reader

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
        "--attr", "services.first-boot-automation.provisioning.source", "--attr", "systemd.services.fba-ready",
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
    parsed = _reader().parse_args(argv[1:])  # flags the program takes (argparse exits otherwise)
    assert parsed.authorized_keys == keys and parsed.source == FW_CFG_SYSFS
    assert netboot["services.openssh.authorizedKeysFiles"][0] == keys
    # The injector writes cluster-config.json where the services read it: no provisioning unit.
    assert netboot["services.first-boot-automation.provisioning.source"] is None


def test_unit_order_is_the_debian_units(netboot: dict[str, Any]) -> None:
    unit = netboot["systemd.services.fba-inject"]
    assert unit["unitConfig"]["DefaultDependencies"] is False
    assert unit["serviceConfig"]["Type"] == "oneshot" and unit["serviceConfig"]["RemainAfterExit"] is True
    assert unit["wantedBy"] == ["sysinit.target"] and unit["wants"] == ["network-pre.target"]
    assert {"systemd-udevd.service", "systemd-modules-load.service"} <= set(unit["after"])
    assert {"network-pre.target", "systemd-networkd.service", "sshd.service", "sysinit.target"} <= set(unit["before"])
    assert "qemu_fw_cfg" in netboot["boot.kernelModules"]  # loaded by systemd-modules-load
    debian = configparser.ConfigParser(interpolation=None, strict=False)
    debian.read_string((GUEST_DIR / "units" / "fba-inject.service.in").read_text())
    expected = {
        key: {DEBIAN_TO_NIXOS.get(u, u) for u in debian["Unit"][key].split() if not u.startswith("@")}
        for key in ("After", "Before", "Wants", "Conflicts")
    }
    assert expected == {
        "After": set(unit["after"]), "Before": set(unit["before"]),
        "Wants": set(unit["wants"]), "Conflicts": set(unit["conflicts"]),
    }  # fmt: skip


def test_package_installs_the_guest_program_under_nixpkgs_python(module_eval: ModuleEval, flake: Path) -> None:
    nixpkgs = json.dumps(str(SHARED / "nix-eval" / "nix_module_eval.nix"))
    expr = f"""
      let
        wrapper = import (/. + {json.dumps(str(flake / "flake.nix"))});
        nixpkgs = import (/. + {nixpkgs}) {{ flakeInput = "nixpkgs"; }};
        out = wrapper.outputs {{ self = out; inherit nixpkgs; }};
        p = out.packages.x86_64-linux.fba-inject;
      in {{ inherit (p) name text; main = p.meta.mainProgram; }}
    """
    got = module_eval.eval_json(expr)
    assert got["name"] == "fba-inject" and got["main"] == "fba-inject"
    source = GUEST_DIR / "fba-inject.py"
    shebang = source.read_text().splitlines()[0]
    # --replace-fail stops the build if the program's first line ever changes.
    assert f'--replace-fail "{shebang}" "#!/nix/store/' in got["text"]
    assert re.search(r"install -D -m 0755 /nix/store/[0-9a-z]{32}-fba-inject\.py \$out/bin/fba-inject\n", got["text"])


def test_ready_line_comes_from_the_debian_images_script(netboot: dict[str, Any]) -> None:
    # The harness waits for READY_PATTERN on the console; without this unit no node is ready.
    unit = netboot["systemd.services.fba-ready"]
    shell, script = unit["serviceConfig"]["ExecStart"].split()
    assert shell.endswith("/bin/bash")
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-fba-ready\.sh", script), script
    assert unit["serviceConfig"]["Type"] == "simple"  # is-system-running --wait must not wait for it
    assert unit["after"] == ["multi-user.target"] and unit["wantedBy"] == ["multi-user.target"]
    # beyond coreutils and systemd, which NixOS puts on every unit's PATH
    assert sorted(p.rpartition("/")[2].split("-", 1)[1] for p in unit["path"]) == ["gawk", "util-linux"]
    text = (GUEST_DIR / "fba-ready.sh").read_text()
    assert "mountpoint -q" in text and "awk " in text and "$(hostname)" not in text
