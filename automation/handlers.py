"""The handler of each `fba` command, named in `automation.spec.commands.COMMANDS`.

Each handler turns parsed arguments into a call of its step and returns the exit code; errors
are raised (`FbaError`) and become exit codes in `automation.cli`. Each imports its step where
it runs: importing this module costs nothing beyond the invocation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from automation.errors import ConfigError, FbaError, UsageError
from automation.invocation import Invocation
from automation.spec.commands import MAX_SECONDS
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service

if TYPE_CHECKING:
    from automation.markers import MarkerState
    from automation.spec.config import ClusterConfig
    from automation.spec.units import UnitSpec


def _positive(command: str, flag: str, value: float) -> float:
    if value <= 0:
        raise UsageError(f"fba {command}: --{flag} must be positive, got {value}")
    return value


def _seconds(command: str, flag: str, value: float, *, zero: bool = False) -> float:
    """A wait in seconds: positive (or 0 when `zero`), and at most MAX_SECONDS, which the
    config's budgets share: a --timeout of 1e308 is a wait without bound."""
    if zero and value < 0:
        raise UsageError(f"fba {command}: --{flag} must not be negative, got {value}")
    if not zero:
        _positive(command, flag, value)
    if value > MAX_SECONDS:
        raise UsageError(f"fba {command}: --{flag} must be at most {MAX_SECONDS} seconds (24 h), got {value:g}")
    return value


def config_validate(inv: Invocation) -> ExitCode:
    from automation import configfile, pathroles, secretfiles

    try:
        config = configfile.load(inv.config_path, inv.env)
    except ConfigError as err:
        for problem, origin in zip(err.problems, err.origins, strict=True):
            inv.out(f"{origin or inv.config_path}: {problem}")
        return ExitCode.CONFIG_INVALID
    # Two settings on one file (one of them written by fba): judged with the config's own path
    # and the state dir this run would use, as every command does when it loads the config.
    clash = pathroles.clash(config, inv.config_path, inv.state_dir)
    if clash:
        inv.out(f"{inv.config_path}: {clash}")
        return ExitCode.CONFIG_INVALID
    # validate checks content (it also runs on workstations and in CI); the mode is judged
    # here only as a warning, and enforced where the file is used on the node.
    for warning in config.warnings():
        inv.out(f"{inv.config_path}: warning: {warning}")
    # The shipped units' sandbox (break 12, K13): a warning, since the operator's units may
    # add the directory to ReadWritePaths (`preflight` and the write itself judge on the node;
    # the state dir is the run's choice, judged by `preflight`).
    from automation.spec.units import sandbox_problems

    for problem in sandbox_problems(config, None):
        inv.out(f"{inv.config_path}: warning: {problem}")
    verdict = secretfiles.inspect(secretfiles.config_file(inv.config_path))
    if verdict.exposure in (secretfiles.Exposure.WORLD, secretfiles.Exposure.GROUP):
        inv.out(f"{inv.config_path}: warning: {verdict.detail}")
    inv.out(f"{inv.config_path}: valid ({config.node_id}, {'bootstrap' if config.bootstrap else 'join'} mode)")
    return ExitCode.OK


def config_schema(inv: Invocation) -> ExitCode:
    import json

    from automation.spec.config import json_schema

    inv.out(json.dumps(json_schema(), indent=2))
    return ExitCode.OK


def detect(inv: Invocation) -> ExitCode:
    config = inv.load_config()
    mode = "bootstrap" if config.bootstrap else "join"
    inv.log.bind(operation="detect").info(f"{mode.capitalize()} mode", bootstrap=config.bootstrap)
    return ExitCode.BOOTSTRAP if config.bootstrap else ExitCode.JOIN


def wait_healthy(inv: Invocation) -> ExitCode:
    from automation.health import wait_healthy as wait
    from automation.http import HttpClient
    from automation.policy import Deadline
    from automation.spec.config import HealthConfig, TlsConfig

    args = inv.args
    log = inv.log.bind(service=args.service or "", operation="wait-healthy")
    if args.service:
        config = inv.load_config()
        log = inv.log.bind(service=args.service, operation="wait-healthy")  # now with the node id
        service = Service(args.service)
        url = config.local_api_url(service) + config.endpoint(service).health_path
        health, http = config.health, inv.http_client(config, log)
    else:
        from automation.spec.urls import url_problem

        url, health, http = str(args.url), HealthConfig(), HttpClient(TlsConfig(), log)
        problem = url_problem(url)
        if problem is not None:
            raise UsageError(f"fba wait-healthy: --url: {problem}")
    timeout = _seconds("wait-healthy", "timeout", args.timeout if args.timeout is not None else health.timeout_s)
    wait(url, http=http, cfg=health, deadline=Deadline.start(timeout), log=log)
    return ExitCode.HEALTHY


def join(inv: Invocation) -> ExitCode:
    from automation.join import run_join
    from automation.spec.config import RetryMode

    args = inv.args
    updates: dict[str, object] = {}  # the arguments are checked before the config is read
    if args.max_attempts is not None:
        updates["max_attempts"] = _positive("join", "max-attempts", args.max_attempts)
    for flag, field in (("retry_delay", "retry_delay_s"), ("deadline", "deadline_s")):
        value = getattr(args, flag)
        if value is not None:
            updates[field] = _seconds("join", flag.replace("_", "-"), value)
    if args.retry_mode:
        updates["retry_mode"] = RetryMode(args.retry_mode)
    prerequisite = Service(args.require_joined) if args.require_joined else None
    ctx = inv.step_context()
    return run_join(ctx, Service(args.service), ctx.config.join.model_copy(update=updates), prerequisite)


def iam_setup(inv: Invocation) -> ExitCode:
    from automation.iam import run_iam_setup

    return run_iam_setup(inv.step_context())


def health_report(inv: Invocation) -> ExitCode:
    from automation.report import run_health_report

    return run_health_report(inv.step_context())


def preflight(inv: Invocation) -> ExitCode:
    from automation.preflight import run_preflight

    return run_preflight(inv.step_context())


def leave(inv: Invocation) -> ExitCode:
    from automation.leave import run_leave

    return run_leave(inv.step_context(), Service(inv.args.service), inv.args.member)


def status(inv: Invocation) -> ExitCode:
    from automation.deadline import Deadline
    from automation.markers import MarkerStore
    from automation.status import bounded_systemd, run_status

    args = inv.args
    deadline = Deadline.start(_seconds("status", "timeout", args.timeout, zero=True))
    loaded: list[ClusterConfig | None] = []  # the config, once read (only to judge a marker)
    return run_status(
        MarkerStore(inv.state_dir),
        bounded_systemd(deadline),
        wait=args.wait,
        deadline=deadline,
        emit=inv.out,
        fmt=args.format,
        role_of=_role_of(inv, loaded),
        foreign_of=_foreign_of(inv, loaded),
    )


def _config_once(inv: Invocation, loaded: list[ClusterConfig | None]) -> ClusterConfig | None:
    """The config for `fba status`, read at most once and only when a marker must be judged
    (status works without one, and its start-up path imports no pydantic)."""
    from automation import configfile

    if not loaded:
        try:
            loaded.append(configfile.load(inv.config_path, inv.env))
        except FbaError:
            loaded.append(None)
    return loaded[0]


def _role_of(inv: Invocation, loaded: list[ClusterConfig | None]) -> Callable[[Path], str | None]:
    """Which setting's file a path is, for `fba status`: the config is read only when a marker
    is not trusted. A config that cannot be read leaves its own path to compare with."""

    def role_of(path: Path) -> str | None:
        from automation import pathroles

        return pathroles.role_of(path, _config_once(inv, loaded), inv.config_path)

    return role_of


def _foreign_of(inv: Invocation, loaded: list[ClusterConfig | None]) -> Callable[[UnitSpec, MarkerState], str | None]:
    """This node, described, when a step's marker names another node, cluster or Raft address
    (the join's own comparison, `markertrust.identity_for`); None when it is ours, names nobody,
    or the config cannot be read. Asked only for a step whose unit did not accept its marker."""

    def foreign_of(unit: UnitSpec, state: MarkerState) -> str | None:
        config = _config_once(inv, loaded)
        if config is None or unit.service is None or state.identity is None:
            return None
        from automation.markertrust import identity_for

        me = identity_for(config, unit.service)
        return None if state.identity == me else me.describe()

    return foreign_of


def analyze(inv: Invocation) -> ExitCode:
    from automation import analyze as timeline
    from automation.systemd import Systemd

    # A factor of 0 or below turns every budget into 0 or less: every step "over budget".
    factor = _positive("analyze", "factor", inv.args.factor)
    config = inv.load_config()
    steps = timeline.timings(Systemd(), bootstrap=config.bootstrap, factor=factor)
    inv.out(timeline.render(steps, inv.args.format, factor))
    return timeline.verdict(steps)


def provision(inv: Invocation) -> ExitCode:
    from automation.provision import run_provision
    from automation.spec.units import SECRETS_DIR

    return run_provision(inv.args.source, inv.args.dest or Path(SECRETS_DIR), inv.log)


def units_render(inv: Invocation) -> ExitCode:
    from automation.render import render_units

    directory = Path(inv.args.directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"fba units render: {directory} exists and is not a directory")
    writable = tuple(d for d in str(inv.args.writable or "").split(":") if d)
    for entry in writable:
        # A relative or odd entry would be a ReadWritePaths= systemd refuses (the unit fails).
        if not entry.startswith("/") or any(c.isspace() or ord(c) < 0x20 or c in '"\\' for c in entry):
            raise UsageError(f"fba units render: --writable expects absolute directories joined by ':', got {entry!a}")
    try:
        paths = render_units(directory, fba=inv.args.fba, writable=writable)
    except OSError as err:
        # The path that failed (units.json being a directory, not DIR), and what did not happen.
        where = err.filename or directory
        raise UsageError(f"fba units render: cannot write {where}: {err.strerror or err}; nothing was written") from err
    for path in paths:
        inv.out(str(path))
    return ExitCode.OK
