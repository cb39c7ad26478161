"""Every `fba` command, once: its name, arguments, handler and exit codes.

The parser (`automation.cli`), the dispatch (the handler is named by module path and imported
only when its command runs, so `fba status` never pays for the config model), systemd's
`SuccessExitStatus=` of each unit and the README's exit-code table are all derived from
`COMMANDS`. Adding a command is adding a row.

Argument choices that live in heavier modules (the config model's `RetryMode`) are named as
`"module:Enum"` and resolved only when the argument is parsed or its help shown.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from automation.spec.exitcodes import SIGNALS, SIGTERM_NOTE, ExitMeaning, table
from automation.spec.markers import JOIN_SERVICES, Service

ArgType = Literal["str", "int", "float", "path", "node-id"]
HANDLERS = "automation.handlers"
# The longest wait any argument in seconds may ask for (24 h), as for the config's budgets
# (`spec/config.py`): `fba status --wait --timeout 1e308` waited without bound.
MAX_SECONDS = 86_400


# The table's records are NamedTuples, not frozen dataclasses: every `fba` start, `--help`
# included, builds them, and that path does not import `dataclasses`
# (docs/CONTRIBUTING.md, "The start-up path").
class Arg(NamedTuple):
    """One argparse argument, as data."""

    flags: tuple[str, ...]
    help: str | None = None
    type: ArgType = "str"
    choices: tuple[str, ...] | str = ()  # values, or "module:Enum" resolved lazily
    default: str | float | int | None = None
    required: bool = False
    switch: bool = False  # store_true
    one_of: str | None = None  # name of a required mutually exclusive group
    # Another argument of the command (its flag) this one must not equal: `join --service
    # chainfire --require-joined chainfire` waited for its own marker, exit 1 on every start
    # until systemd's start limit. Such a pair is a usage error (exit 3) before anything runs.
    differs_from: str | None = None


class CommandSpec(NamedTuple):
    name: str  # "join", "config validate": the words after `fba`
    help: str
    handler: str  # "module:function", called with the invocation; returns the exit code
    exits: tuple[ExitMeaning, ...]
    args: tuple[Arg, ...] = ()
    common: bool = True  # accepts --config/--state-dir after the command words too
    usage_exit: int = 3  # bad arguments or configuration

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    def exit_code(self, name: str) -> int:
        return next(m.code for m in self.exits if m.name == name)


# Help of the command words that only group others (`fba config ...`).
GROUPS: dict[str, str] = {
    "config": "validate the config or print its JSON Schema",
    "units": "render the systemd units from the unit graph",
}

_SERVICES = tuple(s.value for s in Service)
_JOIN_SERVICES = tuple(s.value for s in JOIN_SERVICES)
_FORMAT = Arg(("--format",), choices=("text", "json"), default="text")


def _h(function: str) -> str:
    return f"{HANDLERS}:{function}"


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "config validate",
        "exit 0 valid, 2 invalid; one line per problem",
        _h("config_validate"),
        table(
            ExitMeaning(0, "valid", "the configuration is valid"),
            ExitMeaning(2, "invalid", "the configuration is invalid; one line per problem"),
            invalid=None,
        ),
        usage_exit=2,
    ),
    CommandSpec(
        "config schema",
        "print the JSON Schema (draft-07)",
        _h("config_schema"),
        table(ExitMeaning(0, "ok", "the JSON Schema was printed")),
        common=False,
    ),
    CommandSpec(
        "detect",
        "exit 0 bootstrap, 1 join, 2 configuration error",
        _h("detect"),
        table(
            ExitMeaning(0, "bootstrap", "this node should bootstrap a new cluster"),
            ExitMeaning(1, "join", "this node should join an existing cluster"),
            ExitMeaning(2, "config-error", "configuration error"),
            invalid=None,
        ),
        usage_exit=2,
    ),
    CommandSpec(
        "wait-healthy",
        "wait until a service answers healthy",
        _h("wait_healthy"),
        table(
            ExitMeaning(0, "healthy", "the service answered healthy"),
            ExitMeaning(1, "unhealthy", "timeout: the service never answered healthy"),
        ),
        args=(
            Arg(("--service",), choices=_SERVICES, one_of="target"),
            Arg(("--url",), one_of="target"),
            Arg(("--timeout",), f"seconds, at most {MAX_SECONDS} (default: health.timeout_s, 120)", type="float"),
        ),
    ),
    CommandSpec(
        "join",
        "bootstrap or join the service's cluster",
        _h("join"),
        table(
            ExitMeaning(0, "joined", "joined (or bootstrapped) and the marker was written", True),
            ExitMeaning(1, "failed", "failed after the bounded attempts; the last log line names the cause"),
            ExitMeaning(2, "already-member", "already a member (HTTP 409, listed, or marker present)", True),
            invalid=ExitMeaning(
                3,
                "invalid",
                "invalid arguments or configuration, a membership conflict, this node's own service in another "
                "cluster, or a bootstrap node beside a cluster that does not list it (`cluster already exists`); "
                "no member was added, no marker written (unless the message says this run's add was accepted "
                "before the conflict showed: then it names the entry to remove)",
            ),
        ),
        args=(
            Arg(("--service",), choices=_JOIN_SERVICES, required=True),
            Arg(("--max-attempts",), type="int"),
            Arg(
                ("--retry-delay",),
                f"first (exponential) or every (fixed) delay, seconds, at most {MAX_SECONDS}",
                type="float",
            ),
            Arg(("--retry-mode",), choices="automation.spec.config:RetryMode"),
            Arg(("--deadline",), f"overall budget for the join, seconds, at most {MAX_SECONDS}", type="float"),
            Arg(
                ("--require-joined",),
                "exit 1 (to be retried) until this service's join marker exists and is trusted as that service's join "
                "trusts it (another service than --service)",
                choices=_JOIN_SERVICES,
                differs_from="--service",
            ),
        ),
    ),
    CommandSpec(
        "iam-setup",
        "ensure the IAM admin and this node's token",
        _h("iam_setup"),
        table(
            ExitMeaning(
                0,
                "initialized",
                "admin ensured (read back from the IAM), node token stored (not expired on the IAM's clock), marker "
                "written; a renewal (the stored token near its expiry) renews it with the stored token while the IAM "
                "takes it, else the bootstrap token, and skips the admin check with a WARN once the bootstrap token "
                "is refused or gone",
                True,
            ),
            ExitMeaning(
                1,
                "failed",
                "IAM unreachable or refused (a renewal: neither the stored node token nor the bootstrap token "
                "accepted); the last log line names the cause",
            ),
            ExitMeaning(
                2,
                "already-initialized",
                "the marker was already present and the stored node token is not near its expiry; nothing done",
                True,
            ),
        ),
    ),
    CommandSpec(
        "health-report",
        "one JSON summary; exit 0 healthy, 1 degraded",
        _h("health_report"),
        table(
            ExitMeaning(0, "healthy", "every service healthy and this node a member, as each leader lists it"),
            ExitMeaning(
                1,
                "degraded",
                "at least one check failed, or was not made within the budget (`not_checked`: unknown, never "
                "counted as failed or stale); the JSON summary says which",
            ),
        ),
    ),
    CommandSpec(
        "preflight",
        "pre-join checks; one JSON line each",
        _h("preflight"),
        table(
            ExitMeaning(0, "ok", "every pre-flight check passed"),
            ExitMeaning(1, "failed", "at least one pre-flight check failed"),
        ),
    ),
    CommandSpec(
        "leave",
        "remove a member (default: this node) and its marker",
        _h("leave"),
        table(
            ExitMeaning(0, "removed", "the member was removed and the marker deleted"),
            ExitMeaning(1, "failed", "the leader could not be reached or refused"),
            ExitMeaning(2, "not-a-member", "the node was not a member; marker removed if present"),
            invalid=ExitMeaning(
                3,
                "invalid",
                "invalid arguments or configuration, a secret file others may read, or (leaving this node) a "
                "membership conflict in the leader's list: our id at another Raft address, or our address "
                "under another id (nothing was changed; `--member ID` removes such a member)",
            ),
        ),
        args=(
            Arg(("--service",), choices=_JOIN_SERVICES, required=True),
            Arg(("--member",), "member id to remove, a node id (default: this node)", type="node-id"),
        ),
    ),
    CommandSpec(
        "status",
        "first-boot state per step; exit 0 done, 1 failed, 2 not finished",
        _h("status"),
        table(
            ExitMeaning(0, "done", "every first-boot step is done"),
            ExitMeaning(1, "failed", "a step failed; the output names it and its cause"),
            ExitMeaning(2, "not-finished", "steps still pending or running (at --timeout)"),
        ),
        args=(
            Arg(("--wait",), switch=True),
            Arg(("--timeout",), f"seconds, 0 to {MAX_SECONDS}", type="float", default=300.0),
            _FORMAT,
        ),
    ),
    CommandSpec(
        "analyze",
        "per-step durations against the budgets",
        _h("analyze"),
        table(
            ExitMeaning(0, "within-budget", "every step finished within its budget"),
            ExitMeaning(1, "over-budget", "a step is over budget or unfinished"),
        ),
        args=(
            Arg(("--factor",), "budget multiplier (e.g. TCG slowdown), above 0", type="float", default=1.0),
            _FORMAT,
        ),
    ),
    CommandSpec(
        "provision",
        "install injected files into the secrets dir (0600)",
        _h("provision"),
        table(
            ExitMeaning(0, "provisioned", "secrets installed with mode 0600"),
            ExitMeaning(1, "failed", "a file could not be read or installed; every old file kept"),
        ),
        args=(
            Arg(("--source",), type="path", required=True),
            Arg(("--dest",), "default: the secrets dir of the units", type="path"),
        ),
        common=False,
    ),
    CommandSpec(
        "units render",
        "write *.service and units.json into DIR",
        _h("units_render"),
        table(ExitMeaning(0, "ok", "the unit files were written")),
        args=(
            Arg(("directory",), type="path"),
            Arg(("--fba",), "ExecStart path of fba", default="/usr/bin/fba"),
            Arg(
                ("--writable",),
                "directories (absolute, `:`-separated) the config writes besides the units' own, added to their "
                "ReadWritePaths (prometheus_textfile's, iam.credentials_path's)",
                default="",
            ),
        ),
        common=False,
    ),
)


def _dest(flag: str) -> str:
    """argparse's attribute name for a flag (`--require-joined` -> `require_joined`)."""
    return flag.lstrip("-").replace("-", "_")


def relation_problem(spec: CommandSpec, values: dict[str, object]) -> str | None:
    """Why the parsed arguments (argparse's attributes) cannot go together, from each
    argument's `differs_from` (None: they can)."""
    for arg in spec.args:
        if arg.differs_from is None:
            continue
        mine, other = values.get(_dest(arg.flags[0])), values.get(_dest(arg.differs_from))
        if mine is not None and mine == other:
            flag = arg.flags[0]
            return f"fba {spec.name}: {flag} {mine} is {arg.differs_from} itself: a step cannot require itself"
    return None


def command(name: str) -> CommandSpec:
    for spec in COMMANDS:
        if spec.name == name:
            return spec
    raise KeyError(f"no fba command {name!r}; known: {', '.join(c.name for c in COMMANDS)}")


def command_of(argv: list[str] | tuple[str, ...]) -> CommandSpec | None:
    """The command named in argv, before parsing (so a usage error gets that command's code).

    The command words are the first words that are not options or option values; the longest
    name wins (`config validate` over a hypothetical `config`).
    """
    words = [a for a in argv if not a.startswith("-")]
    for spec in sorted(COMMANDS, key=lambda c: -len(c.name)):
        n = len(spec.words)
        if any(tuple(words[i : i + n]) == spec.words for i in range(len(words))):
            return spec
    return None


def systemd_success_codes(name: str) -> tuple[int, ...]:
    """Non-zero codes systemd must treat as success (`SuccessExitStatus=`) for a command's unit."""
    return tuple(m.code for m in command(name).exits if m.success_for_systemd and m.code != 0)


def exit_table_markdown() -> str:
    """The README's exit-code table, rendered from `COMMANDS`."""
    lines = ["| command | code | name | meaning |", "|---|---|---|---|"]
    for spec in COMMANDS:
        for row in spec.exits:
            lines.append(f"| `fba {spec.name}` | {row.code} | {row.name} | {row.meaning} |")
    lines += [f"| every command | {row.code} | {row.name} | {row.meaning} |" for row in SIGNALS]
    return "\n".join(lines) + "\n\n" + SIGTERM_NOTE + "\n"
