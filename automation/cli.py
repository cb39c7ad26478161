"""`fba`: the command every node runs under systemd. Errors become exit codes here, and only here.

Whatever goes wrong, the user sees one line (a JSON log line for the steps that run under
systemd, plain lines for `config validate`), never a traceback, and the exit code documented
for that command in `automation.spec.commands`.

The parser and the dispatch are built from that table of commands; a command's handler (and
everything it imports) is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from automation import __version__
from automation.errors import ConfigError, FbaError, UsageError
from automation.log import Logger, discard, write_line
from automation.spec.commands import COMMANDS, GROUPS, Arg, CommandSpec, command, command_of, relation_problem
from automation.spec.exitcodes import INTERRUPTED_LINE, ExitCode
from automation.spec.markers import NODE_ID_PATTERN, is_node_id


def _finite(text: str) -> float:
    """A number of seconds or a factor: `float()` also takes "inf" and "nan", and an infinite
    --deadline made a join that never ends (the config's budgets have upper bounds)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_finite.__name__ = "finite number"  # argparse names the type in its error: "invalid finite number value"


def _path(text: str) -> Path:
    """A path argument. An empty one (an unset shell variable) is refused: `Path("")` is the
    current directory, and `--state-dir ""` made the cwd (`/` under systemd) the state
    directory; `fba units render ""` wrote units into it."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (an unset variable?); give a path")
    return Path(text)


def _node_id(text: str) -> str:
    """A member id: what the config's node_id may be. It goes into a URL path: `--member ""`
    removed this node, `node01#x` removed node01 (the fragment was cut), `../../users/admin`
    was sent as written."""
    if not is_node_id(text):
        shown = text.encode("unicode_escape").decode("ascii")[:80]
        raise argparse.ArgumentTypeError(f"not a node id: {shown!r} (expected {NODE_ID_PATTERN})")
    return text


_TYPES: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": _finite,
    "path": _path,
    "node-id": _node_id,
}


def _columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` finds it: `COLUMNS`, else the terminal
    on stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse's layout, given its width: argparse builds a formatter for every `add_argument`
    (to check the metavar) and, asked for none, imports `shutil` to find one; that import (with
    `bz2`, `lzma`) was ~2.5 ms of every `fba status` (bench/README.md, "Trimmed")."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("width", _columns() - 2)  # argparse's own margin
        super().__init__(prog, **kwargs)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


class _Leaf(_Parser):
    """A command's parser, whose arguments are added when it parses: `fba status` does not
    build (nor import the choices of) `fba join`'s arguments."""

    def __init__(self, *args: Any, spec: CommandSpec | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.populated = False

    def populate(self) -> None:
        if self.populated or self.spec is None:  # None: a group of commands (`fba config`)
            return
        self.populated = True
        if self.spec.common:
            _common(self)
        groups: dict[str, Any] = {}
        for arg in self.spec.args:
            _add(self, groups, arg)
        self.set_defaults(_command=self.spec.name)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.populate()
        return super().parse_known_args(args, namespace)


class _LazyChoices:
    """Choices named `"module:Enum"`, imported when argparse first looks at them."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def _values(self) -> list[str]:
        module, _, name = self.ref.partition(":")
        return [str(member.value) for member in getattr(importlib.import_module(module), name)]

    def __contains__(self, value: object) -> bool:
        return value in self._values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())


def _common(parser: argparse.ArgumentParser) -> None:
    # Accepted before and after the sub-command: `fba --config X join` and `fba join --config X`.
    parser.add_argument("--config", type=_path, default=argparse.SUPPRESS, help="cluster-config.json (env FBA_CONFIG)")
    parser.add_argument(
        "--state-dir", type=_path, default=argparse.SUPPRESS, help="marker directory (env FBA_STATE_DIR)"
    )


def _add(parser: argparse.ArgumentParser, groups: dict[str, Any], arg: Arg) -> None:
    kwargs: dict[str, Any] = {"help": arg.help}
    if arg.switch:
        kwargs["action"] = "store_true"
    else:
        kwargs["type"] = _TYPES[arg.type]
        if arg.choices:
            kwargs["choices"] = _LazyChoices(arg.choices) if isinstance(arg.choices, str) else list(arg.choices)
        if arg.default is not None:
            kwargs["default"] = arg.default
        if arg.required:
            kwargs["required"] = True
    target: Any = parser
    if arg.one_of:
        if arg.one_of not in groups:
            groups[arg.one_of] = parser.add_mutually_exclusive_group(required=True)
        target = groups[arg.one_of]
    target.add_argument(*arg.flags, **kwargs)


_VALUED = ("--config", "--state-dir")  # the options before the command that take a value


def command_word(argv: Sequence[str]) -> str | None:
    """The first word of argv that is neither an option nor an option's value (argparse's own
    prefixes, `--conf X`, included): the command `fba` was asked for, or None (`fba --help`)."""
    value_next = False
    for word in argv:
        if value_next:
            value_next = False
        elif word == "--":
            return None
        elif word.startswith("--") and "=" not in word and any(o.startswith(word) for o in _VALUED if len(word) > 2):
            value_next = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `fba` parser, from `COMMANDS`; each leaf records its command as `_command`.

    `only`: add just the sub-commands under that first word (`status`; `config` for `config
    validate` and `config show`). Each sub-parser costs ~0.2 ms, mostly argparse's gettext
    lookups, and `fba status` is run often; a parse that fails with fewer is parsed again with
    all (`run`), so help and errors are those of the full parser."""
    parser = _Parser(prog="fba", description="First-boot automation: make this node join its cluster.")
    parser.add_argument("--version", action="version", version=f"fba {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Leaf)
    nested: dict[str, Any] = {}
    for spec in COMMANDS:
        head, *rest = spec.words
        if only is not None and head != only:
            continue
        if rest:
            if head not in nested:
                group = sub.add_parser(head, help=GROUPS[head])
                nested[head] = group.add_subparsers(dest=f"{head}_command", required=True, parser_class=_Leaf)
            nested[head].add_parser(" ".join(rest), help=spec.help, spec=spec)
        else:
            sub.add_parser(head, help=spec.help, spec=spec)
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    """argv parsed by a parser of only the command asked for when there is one, else (and when
    that parse fails: the word was an option's value after all) by the full parser."""
    word = command_word(argv)
    if word is not None and any(spec.words[0] == word for spec in COMMANDS):
        try:
            return build_parser(only=word).parse_args(argv)
        except UsageError:
            pass  # parsed again in full below: its error is the one to show
    return build_parser().parse_args(argv)


def _handler(spec: CommandSpec) -> Callable[[Any], ExitCode]:
    module, _, name = spec.handler.partition(":")
    handler: Callable[[Any], ExitCode] = getattr(importlib.import_module(module), name)
    return handler


def _usage_code(spec: CommandSpec | None) -> int:
    return spec.usage_exit if spec else int(ExitCode.INVALID)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> NoReturn:
    # pydantic looks for plugins (entry points of every installed distribution, through
    # importlib.metadata) the first time it builds a model: ~15-20 ms of each start on the host,
    # several times that in a TCG guest. fba uses none; this is pydantic's documented switch
    # (docs: concepts/plugins, "disabling plugins"). A caller that sets it keeps its value.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _reserve_standard_fds()
    code = run(argv, env)
    # What is still buffered (argparse's --help writes without a flush) is flushed at exit; a
    # broken stdout failing there printed "Exception ignored" and turned the exit code into 120.
    for stream in (sys.stdout, sys.stderr):
        _flush(stream)
    sys.exit(code)


def _flush(stream: Any) -> None:
    if stream is None:
        return
    try:
        stream.flush()
    except (OSError, ValueError, AttributeError):
        discard(stream)


def _reserve_standard_fds() -> None:
    """Open /dev/null on a closed fd 0, 1 or 2 (`fba ... >&-`): otherwise the next file fba
    opens (a marker's temp file, the lock) gets that number, and anything written to "stdout"
    would land in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
            except OSError:
                return
            if null != fd:  # the lowest free number: fd itself, unless a lower one was free too
                os.dup2(null, fd)
                os.close(null)


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Parse, run, and turn every outcome into an exit code. Never raises."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    spec = command_of(argv)

    def out(line: str) -> None:
        # Output lost to a closed stdout does not change the verdict (the exit code).
        write_line(sys.stdout, line)

    log: Logger | None = None
    try:
        args = _parse(argv)
        spec = command(args._command)
        problem = relation_problem(spec, vars(args))
        if problem:
            raise UsageError(problem)
        # Imported once a command was parsed: `--help`, `--version` and usage errors end above,
        # without the invocation's defaults (the unit graph).
        from automation.invocation import Invocation

        inv = Invocation(args, env, out)
        log = inv.log
        try:
            return int(_handler(spec)(inv))
        finally:
            log = inv.log  # bound to the node id once the config was read
    except UsageError as err:
        write_line(sys.stderr, err.message)
        return _usage_code(spec)
    except ConfigError as err:
        (log or Logger()).error(err.message, cause="invalid configuration", problems=list(err.problems))
        return _usage_code(spec)
    except FbaError as err:
        if not err.logged:
            (log or Logger()).error(err.message, cause=getattr(err, "cause", None), command=spec.name if spec else None)
        return int(err.exit_code)
    except KeyboardInterrupt:
        write_line(sys.stderr, INTERRUPTED_LINE)
        return int(ExitCode.INTERRUPTED)
    except SystemExit as err:  # argparse --help/--version
        return int(err.code) if isinstance(err.code, int) else 0
    except Exception as err:
        (log or Logger()).error(f"fba: internal error: {type(err).__name__}: {err}", cause="internal error")
        return int(ExitCode.INTERNAL)
