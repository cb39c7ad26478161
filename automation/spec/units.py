"""The unit graph: the design's four automation units, their ordering and their budgets.

Everything that names a unit reads this table: `fba units render` (systemd files and
`units.json`), the Nix module (through `nix/units.json`), the harness checks (ordering that
systemd actually applied must match), `fba status`/`fba analyze` and the README.

Changes to the design, and why:
- `Wants=` on the service each join unit waits for, so starting the join unit alone pulls it in.
- `TimeoutStartSec=` on every oneshot: systemd's default for oneshot is infinity, and a boot
  step that can hang forever is exactly what we are here to prevent.
- `Restart=on-failure` with a start limit, so a join that failed while the leader was away is
  retried a bounded number of times, then left `failed` for the operator. Only the number of
  starts (`tries`), `RestartSec=` and what bounds one start (`run_budget`) are written here;
  `TimeoutStartSec=` and `StartLimitIntervalSec=` are computed from them by
  `automation.spec.startlimits`, so the promise survives a change of any budget.
- Budgets: the design's "typical timeline", as T+ offsets from systemd start at which each
  unit should have finished (bootstrap node / joining node), with KVM.
- flaredb-cluster-join: `Wants=` + `After=` chainfire-cluster-join instead of the design's
  `Requires=`, and `fba join --require-joined chainfire` refuses (exit 1) until chainfire's
  marker exists. With `Requires=`, a chainfire join that failed once and then succeeded on
  its automatic restart left flaredb's join dead ("Dependency failed") until a human came;
  now flaredb's own `Restart=on-failure` picks it up, and it still never runs before chainfire.
- `After=time-sync.target` on every unit (not in the design): see `TIME_SYNC`.
"""

from __future__ import annotations

import posixpath
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from automation.spec.commands import command, systemd_success_codes
from automation.spec.markers import DEFAULT_STATE_DIR, Service, Step, marker_name

if TYPE_CHECKING:  # `fba status` imports this module and must not import pydantic
    from automation.spec.config import ClusterConfig

NETWORK_ONLINE = "network-online.target"
# Every unit orders after it, never pulls it in (systemd.special(7): "services where correct time
# is essential"): the steps judge times (TLS certificates, the node token's expiry against the
# IAM's), and a first boot before NTP stepped the clock judged them on a clock a day off (break
# 12, K3). It waits for a real sync only where systemd-time-wait-sync.service (or an NTP client
# that holds the target until synced) is enabled; elsewhere it is reached at once and costs
# nothing, and fba judges the IAM's times on the IAM's own clock (its Date header) anyway.
TIME_SYNC = "time-sync.target"
MULTI_USER = "multi-user.target"
DEFAULT_CONFIG_PATH = "/etc/nixos/secrets/cluster-config.json"
SECRETS_DIR = "/etc/nixos/secrets"
RUNTIME_DIR = "/run/first-boot-automation"
# An optional file of KEY=VALUE lines (failpoints, knobs) that a harness or operator can drop in.
ENVIRONMENT_FILE = f"{RUNTIME_DIR}/env"


# The directories every automation unit may write under its `ProtectSystem=strict` besides its
# StateDirectory= (`DEFAULT_STATE_DIR`): the secrets dir (IAM credentials) and the runtime dir
# (the failpoints' once-per-boot record). The one list for the rendered units' and the Nix
# module's ReadWritePaths= and for `sandbox_problems`; an operator adds directories of their
# own (`fba units render --writable`, NixOS `services.first-boot-automation.writablePaths`).
WRITABLE_DIRS: tuple[str, ...] = (SECRETS_DIR, RUNTIME_DIR)
WRITABLE_HINT = "NixOS: services.first-boot-automation.writablePaths; Debian: fba units render DIR --writable DIR2"

# [Service] hardening of every automation unit: it writes only its state and secrets dirs.
HARDENING: dict[str, str | bool] = {
    "UMask": "0077",
    "ProtectSystem": "strict",
    "PrivateTmp": True,
    "NoNewPrivileges": True,
    "StandardOutput": "journal",
    "SyslogIdentifier": "fba",
}
# Exit codes after which systemd must not restart a unit: bad configuration does not heal itself.
RESTART_PREVENT_EXIT_STATUS: tuple[int, ...] = (3,)

# Budgets that are not config fields, in seconds, named so a unit's `run_budget` can list them.
FIXED_BUDGETS: dict[str, float] = {
    # fba's own start-up and exit on a slow (TCG) guest, with room: bench/fba_startup.py.
    "fba.startup_s": 30.0,
    # `fba health-report`: every check and the notify webhook together, one budget (the checks
    # stop `report.NOTIFY_RESERVE_S` before its end when there is a summary to send).
    "report.budget_s": 60.0,
}
# A join or IAM step: the local service's health wait, then the step's own deadline, plus one
# request that started just before the deadline (requests are capped by the time left, but at
# least 0.1 s, and a slow platform adds its own lateness).
_STEP_BUDGET = ("fba.startup_s", "health.timeout_s", "join.deadline_s", "join.request_timeout_s")


class UnitType(StrEnum):
    ONESHOT = "oneshot"
    SIMPLE = "simple"


class Restart(StrEnum):
    NO = "no"
    ON_FAILURE = "on-failure"


def service_unit(service: Service) -> str:
    """The unit of the service itself (provided by the user's T024 modules or our stand-ins)."""
    return f"{service.value}.service"


# A NamedTuple, not a frozen dataclass: every `fba` command that runs loads this table, and
# `fba status` does not import `dataclasses` (docs/CONTRIBUTING.md, "The start-up path").
# What a `__post_init__` would check is `_checked` below, run once on the table.
class UnitSpec(NamedTuple):
    name: str
    description: str
    argv: tuple[str, ...]  # arguments after `fba`
    exit_command: str  # the `fba` command it runs (automation.spec.commands)
    after: tuple[str, ...]
    before: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    wants: tuple[str, ...] = ()
    wanted_by: tuple[str, ...] = (MULTI_USER,)
    unit_type: UnitType = UnitType.ONESHOT
    remain_after_exit: bool = False
    restart: Restart = Restart.ON_FAILURE
    restart_sec: int = 10
    # Starts systemd allows before it leaves the unit `failed` (StartLimitBurst=).
    tries: int = 6
    # What bounds one start of the unit, summed: config fields (their defaults) or FIXED_BUDGETS.
    run_budget: tuple[str, ...] = ()
    service: Service | None = None
    requires_joined: str | None = None  # a join unit that must have succeeded (checked by fba)
    markers: tuple[str, ...] = ()
    budget_bootstrap_s: float = 0.0
    budget_join_s: float = 0.0
    documentation: tuple[str, ...] = ("https://github.com/first-boot-automation/first-boot-automation#readme",)

    @property
    def success_exit_status(self) -> tuple[int, ...]:
        return systemd_success_codes(self.exit_command)


CHAINFIRE_JOIN = UnitSpec(
    name="chainfire-cluster-join.service",
    description="First-boot: bootstrap or join the chainfire cluster",
    argv=("join", "--service", Service.CHAINFIRE.value),
    exit_command="join",
    after=(NETWORK_ONLINE, service_unit(Service.CHAINFIRE), TIME_SYNC),
    before=("flaredb-cluster-join.service",),
    wants=(NETWORK_ONLINE, service_unit(Service.CHAINFIRE)),
    remain_after_exit=True,
    service=Service.CHAINFIRE,
    markers=(marker_name(Service.CHAINFIRE, Step.INITIALIZED), marker_name(Service.CHAINFIRE, Step.JOINED)),
    run_budget=_STEP_BUDGET,
    budget_bootstrap_s=15,
    budget_join_s=25,
)

FLAREDB_JOIN = UnitSpec(
    name="flaredb-cluster-join.service",
    description="First-boot: bootstrap or join the flaredb cluster",
    argv=("join", "--service", Service.FLAREDB.value, "--require-joined", Service.CHAINFIRE.value),
    exit_command="join",
    after=(CHAINFIRE_JOIN.name, service_unit(Service.FLAREDB), TIME_SYNC),
    before=("iam-initial-setup.service",),
    wants=(CHAINFIRE_JOIN.name, service_unit(Service.FLAREDB)),
    remain_after_exit=True,
    service=Service.FLAREDB,
    requires_joined=CHAINFIRE_JOIN.name,
    markers=(marker_name(Service.FLAREDB, Step.INITIALIZED), marker_name(Service.FLAREDB, Step.JOINED)),
    run_budget=_STEP_BUDGET,
    budget_bootstrap_s=25,
    budget_join_s=35,
)

IAM_SETUP = UnitSpec(
    name="iam-initial-setup.service",
    description="First-boot: ensure the IAM admin user and this node's token",
    argv=("iam-setup",),
    exit_command="iam-setup",
    after=(FLAREDB_JOIN.name, service_unit(Service.IAM), TIME_SYNC),
    before=("cluster-health-check.service",),
    wants=(service_unit(Service.IAM),),
    remain_after_exit=True,
    service=Service.IAM,
    markers=(marker_name(Service.IAM, Step.INITIALIZED),),
    run_budget=_STEP_BUDGET,
    budget_bootstrap_s=35,
    budget_join_s=40,
)

HEALTH_CHECK = UnitSpec(
    name="cluster-health-check.service",
    description="First-boot: report cluster health and membership",
    argv=("health-report",),
    exit_command="health-report",
    after=(CHAINFIRE_JOIN.name, FLAREDB_JOIN.name, IAM_SETUP.name, TIME_SYNC),
    remain_after_exit=False,
    restart_sec=15,
    run_budget=("fba.startup_s", "report.budget_s"),
    budget_bootstrap_s=40,
    budget_join_s=45,
)


def _checked(*units: UnitSpec) -> tuple[UnitSpec, ...]:
    """The units, each checked to run the `fba` command its exit codes are taken from."""
    for unit in units:
        words = command(unit.exit_command).words  # KeyError naming the known commands
        if unit.argv[: len(words)] != words:
            raise ValueError(f"{unit.name}: argv {unit.argv} does not run `fba {unit.exit_command}`")
    return units


AUTOMATION_UNITS: tuple[UnitSpec, ...] = _checked(CHAINFIRE_JOIN, FLAREDB_JOIN, IAM_SETUP, HEALTH_CHECK)

# The design's timeline for what happens before our units (T+ seconds, with KVM). A harness on a
# slower platform (TCG) measures how late it reached these and scales our budgets by that.
PLATFORM_MILESTONES: dict[str, float] = {NETWORK_ONLINE: 5.0}

# Units the graph refers to but that others provide.
EXTERNAL_UNITS: tuple[str, ...] = (
    NETWORK_ONLINE,
    TIME_SYNC,
    service_unit(Service.CHAINFIRE),
    service_unit(Service.FLAREDB),
    service_unit(Service.IAM),
)


def unit_by_name(name: str) -> UnitSpec:
    for unit in AUTOMATION_UNITS:
        if unit.name == name:
            return unit
    raise KeyError(f"no automation unit named {name!r}; known: {', '.join(u.name for u in AUTOMATION_UNITS)}")


def join_unit_for(service: Service) -> UnitSpec:
    for unit in AUTOMATION_UNITS:
        if unit.service is service:
            return unit
    raise KeyError(f"no automation unit for service {service.value!r}")


def default_environment() -> dict[str, str]:
    """Environment every automation unit runs with (overridable by the Nix module)."""
    return {
        "FBA_CONFIG": DEFAULT_CONFIG_PATH,
        "FBA_STATE_DIR": str(DEFAULT_STATE_DIR),
        "PYTHONUNBUFFERED": "1",
    }


def read_write_paths(extra: tuple[str, ...] = ()) -> list[str]:
    """The units' ReadWritePaths= values: `-` (a directory that does not exist yet is no error:
    systemd would refuse to start the unit) before each of `WRITABLE_DIRS` and `extra`."""
    return [f"-{d}" for d in (*WRITABLE_DIRS, *extra)]


def _under(path: str, directory: str) -> bool:
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def sandbox_problems(config: ClusterConfig, state_dir: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    """The configured paths fba writes that the units' sandbox leaves read-only, one line each
    (break 12, K13): with `ProtectSystem=strict` everything but the StateDirectory= and
    ReadWritePaths= is mounted read-only, so a `prometheus_textfile` in node_exporter's
    directory was never written (exit 0, a WARN) and an `iam.credentials_path` on `/persist`
    failed every boot. fba writes a file by renaming a temporary file in its directory, so the
    directory must be writable. `extra`: the directories the operator's units add. `state_dir`
    (None: not judged): the run's `--state-dir`/`FBA_STATE_DIR`, not the config's."""
    writable = (str(DEFAULT_STATE_DIR), *WRITABLE_DIRS, *extra)
    paths = [("iam.credentials_path", config.iam.credentials_path)]
    if config.prometheus_textfile:
        paths.append(("prometheus_textfile", config.prometheus_textfile))
    out = []
    for field, path in paths:
        directory = posixpath.dirname(posixpath.normpath(path))
        if not any(_under(directory, w) for w in writable):
            out.append(
                f"{field}: {path} is outside the units' writable directories ({', '.join(writable)}): under "
                f"their ProtectSystem=strict {directory} is read-only; add it to their ReadWritePaths "
                f"({WRITABLE_HINT})"
            )
    if state_dir is not None and not any(_under(state_dir, w) for w in (str(DEFAULT_STATE_DIR), *extra)):
        out.append(
            f"state dir: {state_dir} is not the units' StateDirectory ({DEFAULT_STATE_DIR}); under their "
            f"ProtectSystem=strict it is read-only unless added to their ReadWritePaths ({WRITABLE_HINT})"
        )
    return out
