"""The code layer: the project's Python, its command wrappers and every systemd unit.

Small and rebuilt in about a second whenever the project's Python or the guest files change:
`automation/` and `standins/` go to /opt/fba/site (byte-compiled), wrappers for the
project's node-side scripts (read from pyproject's [project.scripts]) to /usr/local/bin,
the automation units rendered by `fba units render` from the unit graph, and this wing's
guest units (injection reader, /var/lib disk, SSH host key, stand-ins, readiness line),
enabled with wants/ symlinks as `systemctl enable` would.
"""

from __future__ import annotations

import configparser
import os
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from automation.spec.markers import Service
from automation.spec.units import DEFAULT_CONFIG_PATH, ENVIRONMENT_FILE, SECRETS_DIR, service_unit
from harness.errors import InfrastructureError
from harness.image.contract import CLUSTER_NETWORK_FILE, GUEST_BIN_DIR, GUEST_LIB_DIR, SITE_DIR, SYSTEMD_DIR
from harness.image.cpio import Layer, pad4
from harness.image.deps import compile_tree
from harness.image.recipe import digest, source_digest
from harness.image.tools import run, zstd

CODE_ARCHIVE = "code.cpio.zst"
PACKAGES = ("automation", "standins")
GUEST_DIR = Path(__file__).parent / "guest"
CODE_BUILDER_MODULES = ("codelayer.py", "cpio.py", "contract.py", "deps.py")
RENDER_TIMEOUT_S = 120.0
# guest file -> (path in the image, executable)
GUEST_FILES: Mapping[str, tuple[str, bool]] = {
    "fba-inject.py": (f"{GUEST_LIB_DIR}/fba-inject", True),
    "fba-varlib.sh": (f"{GUEST_LIB_DIR}/fba-varlib", True),
    "fba-ready.sh": (f"{GUEST_LIB_DIR}/fba-ready", True),
    "config/sshd-fba.conf": ("etc/ssh/sshd_config.d/fba.conf", False),
    "config/99-fba-dhcp.network": ("etc/systemd/network/99-fba-dhcp.network", False),
    "config/wait-online.conf": (f"{SYSTEMD_DIR}/systemd-networkd-wait-online.service.d/fba.conf", False),
}
STATIC_UNITS = ("fba-varlib.service", "fba-ssh-keygen.service", "fba-ready.service")
# Stand-in flags beyond --cluster-config/--health-delay (iam keeps no Raft data dir).
STANDIN_EXTRA_ARGS: Mapping[Service, str] = {
    Service.CHAINFIRE: "--data-dir /var/lib/chainfire",
    Service.FLAREDB: "--data-dir /var/lib/flaredb",
    Service.IAM: "",
}


def _code_files(code_root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        top = code_root / package
        if not top.is_dir():
            raise InfrastructureError(f"image code layer: {top} is missing; is {code_root} the project root?")
        for path in sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def code_hash(code_root: Path) -> str:
    """Hash of everything the code layer is made from (milliseconds: no rendering)."""
    parts: list[bytes] = [source_digest(CODE_BUILDER_MODULES).encode()]
    for path in _code_files(code_root):
        parts.append(path.relative_to(code_root).as_posix().encode() + b"\0" + path.read_bytes())
    parts.append((code_root / "pyproject.toml").read_bytes())
    for path in sorted(GUEST_DIR.rglob("*")):
        if path.is_file():
            parts.append(path.relative_to(GUEST_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest(*parts)


def node_scripts(code_root: Path) -> dict[str, str]:
    """[project.scripts] entries whose code runs on the node: name -> "module:function"."""
    scripts = tomllib.loads((code_root / "pyproject.toml").read_text())["project"].get("scripts", {})
    return {name: target for name, target in scripts.items() if target.split(".", 1)[0] in PACKAGES}


def wrapper(target: str) -> bytes:
    module, _, function = target.partition(":")
    return (
        "#!/usr/bin/python3\n"
        "# Installed by harness/image: the project's code lives in /opt/fba/site.\n"
        "import sys\n"
        f"sys.path.insert(0, '/{SITE_DIR}')\n"
        f"from {module} import {function}\n"
        f"sys.exit({function}())\n"
    ).encode()


def substitutions() -> dict[str, str]:
    return {
        "@SECRETS_DIR@": SECRETS_DIR,
        "@CONFIG_PATH@": DEFAULT_CONFIG_PATH,
        "@ENV_FILE@": ENVIRONMENT_FILE,
        "@NETWORK_FILE@": CLUSTER_NETWORK_FILE,
        "@GUEST_LIB@": GUEST_LIB_DIR,
        "@SERVICE_UNITS@": " ".join(service_unit(s) for s in Service),
    }


def render_template(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    if "@" in "".join(line for line in text.splitlines() if not line.startswith("#")):
        leftover = [w for w in text.split() if w.startswith("@") and w.endswith("@")]
        if leftover:
            raise InfrastructureError(f"image code layer: unit template left {leftover} unsubstituted")
    return text


def guest_units() -> dict[str, str]:
    """This wing's unit files by name, rendered."""
    values = substitutions()
    units = {name: (GUEST_DIR / "units" / name).read_text() for name in STATIC_UNITS}
    units["fba-inject.service"] = render_template((GUEST_DIR / "units" / "fba-inject.service.in").read_text(), values)
    template = (GUEST_DIR / "units" / "standin.service.in").read_text()
    for service in Service:
        units[service_unit(service)] = render_template(
            template, {**values, "@SERVICE@": service.value, "@EXTRA_ARGS@": STANDIN_EXTRA_ARGS[service]}
        )
    return units


def render_automation_units(code_root: Path, out: Path) -> dict[str, str]:
    """Run `fba units render OUT` on the code being packaged; returns {file name: text}.

    Raises:
        InfrastructureError: the command is missing or failed (the automation units are never
            hand-written here: they come from automation/spec/units.py).
    """
    argv = [sys.executable, "-c", "import sys; from automation.cli import main; sys.exit(main())",
            "units", "render", str(out)]
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    try:
        run(argv, what="fba units render (automation units for the image)", timeout=RENDER_TIMEOUT_S,
            cwd=code_root, env=env)
    except InfrastructureError as err:
        raise InfrastructureError(
            f"{err}; the image needs `fba units render DIR` from automation/cli.py to write the "
            "*.service files and units.json of the unit graph"
        ) from err
    rendered = {p.name: p.read_text() for p in sorted(out.iterdir()) if p.suffix in (".service", ".json")}
    if not any(name.endswith(".service") for name in rendered):
        raise InfrastructureError(f"image code layer: `fba units render {out}` wrote no *.service file")
    return rendered


def wanted_by(unit_text: str) -> list[str]:
    """Targets of `WantedBy=` in a unit's [Install] section."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit_text)
    if not parser.has_section("Install"):
        return []
    return parser.get("Install", "WantedBy", fallback="").split()


def add_units(layer: Layer, units: Mapping[str, str]) -> None:
    for name, text in sorted(units.items()):
        layer.add_file(f"{SYSTEMD_DIR}/{name}", text.encode())
    for name, text in sorted(units.items()):
        for target in wanted_by(text):
            layer.add_symlink(f"{SYSTEMD_DIR}/{target}.wants/{name}", f"/{SYSTEMD_DIR}/{name}")


def build_code(tmp: Path, code_root: Path, existing_dirs: frozenset[str], log: Callable[[str], None]) -> None:
    """Build code.cpio.zst in `tmp` (the code cache entry being created)."""
    with tempfile.TemporaryDirectory(prefix="fba-code-") as scratch_name:
        scratch = Path(scratch_name)
        site = scratch / "site"
        for path in _code_files(code_root):
            dest = site / path.relative_to(code_root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
        compile_tree(site, f"/{SITE_DIR}")
        rendered = render_automation_units(code_root, scratch / "units")
        layer = Layer(existing_dirs)
        count = 0
        for package in PACKAGES:
            count += layer.add_tree(site / package, f"{SITE_DIR}/{package}")
        for name, target in sorted(node_scripts(code_root).items()):
            layer.add_file(f"{GUEST_BIN_DIR}/{name}", wrapper(target), executable=True)
        if "fba" in node_scripts(code_root):
            layer.add_symlink("usr/bin/fba", f"/{GUEST_BIN_DIR}/fba")  # render's default path
        for source, (target_path, executable) in GUEST_FILES.items():
            layer.add_file(target_path, (GUEST_DIR / source).read_bytes(), executable=executable)
        services = {n: t for n, t in rendered.items() if n.endswith(".service")}
        for name, text in rendered.items():
            if name.endswith(".json"):
                layer.add_file(f"opt/fba/{name}", text.encode())
        add_units(layer, {**guest_units(), **services})
    (tmp / CODE_ARCHIVE).write_bytes(pad4(zstd(layer.to_bytes())))
    log(f"code: {count} package files, {len(services)} automation units, {len(guest_units())} guest units")
