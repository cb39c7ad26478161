"""`fba`: the command every node runs under systemd. Errors become exit codes here, and only here.

Whatever goes wrong, the user sees one line (a JSON log line for the steps that run under
systemd, plain lines for `config validate`), never a traceback, and the exit code documented
in `automation.spec.exitcodes` for that command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from automation import __version__, configfile, secretfiles
from automation.context import Context
from automation.errors import ConfigError, FbaError, UsageError
from automation.failpoints import Failpoints
from automation.http import HttpClient
from automation.log import Logger
from automation.markers import MarkerStore
from automation.policy import Deadline
from automation.spec.config import ClusterConfig, HealthConfig, RetryMode, TlsConfig, json_schema
from automation.spec.exitcodes import Command, ExitCode
from automation.spec.markers import DEFAULT_STATE_DIR, JOIN_SERVICES, Service
from automation.spec.units import DEFAULT_CONFIG_PATH, SECRETS_DIR


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _common(parser: argparse.ArgumentParser) -> None:
    # Accepted before and after the sub-command: `fba --config X join` and `fba join --config X`.
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="cluster-config.json (env FBA_CONFIG)")
    parser.add_argument(
        "--state-dir", type=Path, default=argparse.SUPPRESS, help="marker directory (env FBA_STATE_DIR)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fba", description="First-boot automation: make this node join its cluster.")
    parser.add_argument("--version", action="version", version=f"fba {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    config = sub.add_parser("config", help="validate the config or print its JSON Schema")
    config_sub = config.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    _common(config_sub.add_parser("validate", help="exit 0 valid, 2 invalid; one line per problem"))
    config_sub.add_parser("schema", help="print the JSON Schema (draft-07)")

    _common(sub.add_parser("detect", help="exit 0 bootstrap, 1 join, 2 configuration error"))

    wait = sub.add_parser("wait-healthy", help="wait until a service answers healthy")
    _common(wait)
    target = wait.add_mutually_exclusive_group(required=True)
    target.add_argument("--service", choices=[s.value for s in Service])
    target.add_argument("--url")
    wait.add_argument("--timeout", type=float, help="seconds (default: health.timeout_s, 120)")

    join = sub.add_parser("join", help="bootstrap or join the service's cluster")
    _common(join)
    join.add_argument("--service", required=True, choices=[s.value for s in JOIN_SERVICES])
    join.add_argument("--max-attempts", type=int)
    join.add_argument("--retry-delay", type=float, help="first (exponential) or every (fixed) delay, seconds")
    join.add_argument("--retry-mode", choices=[m.value for m in RetryMode])
    join.add_argument("--deadline", type=float, help="overall budget for the join, seconds")
    join.add_argument(
        "--require-joined",
        choices=[s.value for s in JOIN_SERVICES],
        help="exit 1 (to be retried) until this service's join marker exists",
    )

    for name, text in (
        ("iam-setup", "ensure the IAM admin and this node's token"),
        ("health-report", "one JSON summary; exit 0 healthy, 1 degraded"),
        ("preflight", "pre-join checks; one JSON line each"),
    ):
        _common(sub.add_parser(name, help=text))

    leave = sub.add_parser("leave", help="remove a member (default: this node) and its marker")
    _common(leave)
    leave.add_argument("--service", required=True, choices=[s.value for s in JOIN_SERVICES])
    leave.add_argument("--member", help="member id to remove (default: this node)")

    status = sub.add_parser("status", help="first-boot state per step; exit 0 done, 1 failed, 2 not finished")
    _common(status)
    status.add_argument("--wait", action="store_true")
    status.add_argument("--timeout", type=float, default=300.0)
    status.add_argument("--format", choices=["text", "json"], default="text")

    analyze = sub.add_parser("analyze", help="per-step durations against the budgets")
    _common(analyze)
    analyze.add_argument("--factor", type=float, default=1.0, help="budget multiplier (e.g. TCG slowdown)")
    analyze.add_argument("--format", choices=["text", "json"], default="text")

    provision = sub.add_parser("provision", help="install injected files into the secrets dir (0600)")
    provision.add_argument("--source", type=Path, required=True)
    provision.add_argument("--dest", type=Path, default=Path(SECRETS_DIR))

    units = sub.add_parser("units", help="render the systemd units from the unit graph")
    units_sub = units.add_subparsers(dest="units_command", required=True, parser_class=_Parser)
    render = units_sub.add_parser("render", help="write *.service and units.json into DIR")
    render.add_argument("directory", type=Path)
    render.add_argument("--fba", default="/usr/bin/fba", help="ExecStart path of fba")
    return parser


def _command_of(argv: Sequence[str]) -> Command | None:
    """The sub-command named in argv (before parsing, so usage errors get the right code)."""
    words = [a for a in argv if not a.startswith("-")]
    for command in sorted(Command, key=lambda c: -len(c.value)):
        parts = command.value.split()
        for i in range(len(words)):
            if words[i : i + len(parts)] == parts:
                return command
    return None


def _config_error_code(command: Command | None) -> ExitCode:
    return ExitCode.CONFIG_INVALID if command in (Command.CONFIG_VALIDATE, Command.DETECT) else ExitCode.INVALID


class App:
    def __init__(self, args: argparse.Namespace, env: Mapping[str, str], out: Callable[[str], None]) -> None:
        self.args = args
        self.env = env
        self.out = out
        self.log = Logger(stream=sys.stdout)
        self.config_path: Path = getattr(args, "config", None) or Path(env.get("FBA_CONFIG", DEFAULT_CONFIG_PATH))
        self.state_dir: Path = getattr(args, "state_dir", None) or Path(
            env.get("FBA_STATE_DIR", str(DEFAULT_STATE_DIR))
        )

    def load_config(self) -> ClusterConfig:
        config = configfile.load(self.config_path, self.env)
        self.log = self.log.bind(node_id=config.node_id)
        if config.notify_token:
            self.log.redactor.add(config.notify_token)
        for warning in config.warnings():
            self.log.warn(f"Configuration: {warning}")
        if self.enforces_file_modes:
            secretfiles.enforce([secretfiles.config_file(self.config_path)], self.log)
        return config

    @property
    def enforces_file_modes(self) -> bool:
        """Every command refuses secret files open to others before it uses them, except
        `preflight`, which reports the same verdicts as checks (from the same code)."""
        return bool(self.args.command != "preflight")

    def http_client(self, config: ClusterConfig, log: Logger) -> HttpClient:
        """The one way a command gets an HTTP client for this config: the TLS secrets it will
        load are checked first, so no request is ever made with a key others can read."""
        if self.enforces_file_modes:
            secretfiles.enforce(secretfiles.tls_files(config), log)
        return HttpClient(config.tls, log)

    def context(self, config: ClusterConfig) -> Context:
        log = self.log
        failpoints = Failpoints.from_environment(
            self.env, on_fire=lambda name, action: log.warn("Failpoint fired", failpoint=name, action=action)
        )
        markers = MarkerStore(self.state_dir, before_rename=lambda: failpoints.hit("marker.before-rename"))
        return Context(
            config=config,
            log=log,
            http=self.http_client(config, log),
            markers=markers,
            failpoints=failpoints,
            config_path=self.config_path,
            environment=self.env,
        )

    def run(self) -> ExitCode:
        command = self.args.command
        if command == "config":
            return self.config_command()
        if command == "units":
            from automation.render import render_units

            for path in render_units(self.args.directory, fba=self.args.fba):
                self.out(str(path))
            return ExitCode.OK
        if command == "provision":
            from automation.provision import run_provision

            return run_provision(self.args.source, self.args.dest, self.log)
        if command == "status":
            return self.status()
        if command == "wait-healthy":
            return self.wait_healthy()
        if command == "analyze":
            return self.analyze()
        config = self.load_config()
        if command == "detect":
            mode = "bootstrap" if config.bootstrap else "join"
            self.log.bind(operation="detect").info(f"{mode.capitalize()} mode", bootstrap=config.bootstrap)
            return ExitCode.BOOTSTRAP if config.bootstrap else ExitCode.JOIN
        ctx = self.context(config)
        return self.step(command, ctx)

    def step(self, command: str, ctx: Context) -> ExitCode:
        if command == "join":
            from automation.join import run_join

            updates: dict[str, object] = {}
            for flag, field in (
                ("max_attempts", "max_attempts"),
                ("retry_delay", "retry_delay_s"),
                ("deadline", "deadline_s"),
            ):
                value = getattr(self.args, flag)
                if value is not None:
                    if value <= 0:
                        raise UsageError(f"fba join: --{flag.replace('_', '-')} must be positive, got {value}")
                    updates[field] = value
            if self.args.retry_mode:
                updates["retry_mode"] = RetryMode(self.args.retry_mode)
            prerequisite = Service(self.args.require_joined) if self.args.require_joined else None
            return run_join(ctx, Service(self.args.service), ctx.config.join.model_copy(update=updates), prerequisite)
        if command == "iam-setup":
            from automation.iam import run_iam_setup

            return run_iam_setup(ctx)
        if command == "health-report":
            from automation.report import run_health_report

            return run_health_report(ctx)
        if command == "preflight":
            from automation.preflight import run_preflight

            return run_preflight(ctx)
        if command == "leave":
            from automation.leave import run_leave

            return run_leave(ctx, Service(self.args.service), self.args.member)
        raise UsageError(f"fba: unknown command {command!r}")

    def config_command(self) -> ExitCode:
        if self.args.config_command == "schema":
            self.out(json.dumps(json_schema(), indent=2))
            return ExitCode.OK
        try:
            config = configfile.load(self.config_path, self.env)
        except ConfigError as err:
            for problem in err.problems:
                self.out(f"{self.config_path}: {problem}")
            return ExitCode.CONFIG_INVALID
        # validate checks content (it also runs on workstations and in CI); the mode is judged
        # here only as a warning, and enforced where the file is used on the node.
        for warning in config.warnings():
            self.out(f"{self.config_path}: warning: {warning}")
        verdict = secretfiles.inspect(secretfiles.config_file(self.config_path))
        if verdict.exposure in (secretfiles.Exposure.WORLD, secretfiles.Exposure.GROUP):
            self.out(f"{self.config_path}: warning: {verdict.detail}")
        self.out(f"{self.config_path}: valid ({config.node_id}, {'bootstrap' if config.bootstrap else 'join'} mode)")
        return ExitCode.OK

    def wait_healthy(self) -> ExitCode:
        from automation.health import wait_healthy

        log = self.log.bind(service=self.args.service or "", operation="wait-healthy")
        if self.args.service:
            config = self.load_config()
            service = Service(self.args.service)
            url = config.local_api_url(service) + config.endpoint(service).health_path
            health, http = config.health, self.http_client(config, log)
        else:
            url, health, http = str(self.args.url), HealthConfig(), HttpClient(TlsConfig(), log)
        timeout = self.args.timeout if self.args.timeout is not None else health.timeout_s
        if timeout <= 0:
            raise UsageError(f"fba wait-healthy: --timeout must be positive, got {timeout}")
        wait_healthy(url, http=http, cfg=health, deadline=Deadline.start(timeout), log=log)
        return ExitCode.HEALTHY

    def status(self) -> ExitCode:
        from automation.status import bounded_systemd, run_status

        if self.args.timeout < 0:
            raise UsageError(f"fba status: --timeout must not be negative, got {self.args.timeout}")
        deadline = Deadline.start(self.args.timeout)
        return run_status(
            MarkerStore(self.state_dir),
            bounded_systemd(deadline),
            wait=self.args.wait,
            deadline=deadline,
            emit=self.out,
            fmt=self.args.format,
        )

    def analyze(self) -> ExitCode:
        from automation import analyze
        from automation.systemd import Systemd

        config = self.load_config()
        steps = analyze.timings(Systemd(), bootstrap=config.bootstrap, factor=self.args.factor)
        self.out(analyze.render(steps, self.args.format, self.args.factor))
        return analyze.verdict(steps)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> NoReturn:
    sys.exit(run(argv, env))


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Parse, run, and turn every outcome into an exit code. Never raises."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    command = _command_of(argv)

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    app: App | None = None
    try:
        args = build_parser().parse_args(argv)
        app = App(args, env, out)
        return int(app.run())
    except UsageError as err:
        sys.stderr.write(f"{err.message}\n")
        return int(_config_error_code(command))
    except ConfigError as err:
        log = app.log if app else Logger()
        log.error(err.message, cause="invalid configuration", problems=list(err.problems))
        return int(_config_error_code(command))
    except FbaError as err:
        if not err.logged:
            log = app.log if app else Logger()
            log.error(err.message, cause=getattr(err, "cause", None), command=command.value if command else None)
        return int(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("fba: interrupted\n")
        return 130
    except SystemExit as err:  # argparse --help/--version
        return int(err.code) if isinstance(err.code, int) else 0
    except Exception as err:
        log = app.log if app else Logger()
        log.error(f"fba: internal error: {type(err).__name__}: {err}", cause="internal error")
        return int(ExitCode.INTERNAL)
