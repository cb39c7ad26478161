"""One table of commands: the parser, the dispatch and the exit codes all come from `COMMANDS`."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from automation.cli import _parse, build_parser, command_word, run
from automation.spec.commands import COMMANDS, GROUPS, CommandSpec, command, command_of, systemd_success_codes
from automation.spec.units import AUTOMATION_UNITS

ROOT = Path(__file__).resolve().parents[3]
# The least each command needs to parse (its required arguments).
MINIMAL: dict[str, list[str]] = {
    "wait-healthy": ["--url", "http://127.0.0.1:9"],
    "join": ["--service", "chainfire"],
    "leave": ["--service", "flaredb"],
    "provision": ["--source", "/nonexistent"],
    "units render": ["/nonexistent"],
}


def test_every_handler_is_a_function_of_its_module() -> None:
    for spec in COMMANDS:
        module, _, name = spec.handler.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), spec.name


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda s: s.name)
def test_the_parser_routes_each_command_to_its_row(spec: CommandSpec) -> None:
    args = build_parser().parse_args([*spec.words, *MINIMAL.get(spec.name, [])])
    assert args._command == spec.name
    for arg in spec.args:
        dest = arg.flags[0].lstrip("-").replace("-", "_")
        assert hasattr(args, dest), f"{spec.name}: {arg.flags[0]} not parsed"


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda s: s.name)
def test_a_parser_of_only_the_command_asked_for_parses_as_the_full_one(spec: CommandSpec) -> None:
    argv = ["--config", "c.json", *spec.words, *MINIMAL.get(spec.name, [])]
    assert command_word(argv) == spec.words[0]
    assert vars(build_parser(only=spec.words[0]).parse_args(argv)) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["status"], "status"),
        (["--config", "join", "status"], "status"),  # a config file named like a command
        (["--conf", "join", "status"], "status"),  # argparse's prefix of --config takes a value too
        (["--config=join", "status"], "status"),
        (["--state-dir", "/s", "config", "validate"], "config"),
        (["--help"], None),
        (["--", "status"], None),
    ],
)
def test_command_word_skips_options_and_their_values(argv: list[str], word: str | None) -> None:
    assert command_word(argv) == word


def test_a_config_file_named_like_a_command_is_a_value_not_the_command() -> None:
    args = _parse(["--config", "status", "join", "--service", "chainfire"])
    assert args._command == "join" and args.config == Path("status")


@pytest.mark.parametrize("argv", [["status", "--bogus"], ["join"], ["bogus"], ["config", "nope"]])
def test_errors_are_those_of_the_full_parser(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    run(argv, {})
    said = capsys.readouterr().err
    with pytest.raises(Exception) as full:
        build_parser().parse_args(argv)
    assert said.strip() == str(getattr(full.value, "message", full.value)).strip()


def test_command_of_finds_the_words_before_parsing() -> None:
    assert command_of(["--config", "x.json", "config", "validate"]) is command("config validate")
    assert command_of(["join", "--service", "chainfire"]) is command("join")
    assert command_of(["--nope"]) is None and command_of(["bogus"]) is None


@pytest.mark.parametrize(("argv", "code"), [(["config", "validate", "--bad"], 2), (["detect", "--bad"], 2)])
def test_usage_errors_exit_with_the_rows_code(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert command_of(argv) is not None and command_of(argv).usage_exit == code  # type: ignore[union-attr]
    assert run(argv, {}) == code
    assert "unrecognized arguments: --bad" in capsys.readouterr().err


def test_every_usage_exit_is_a_documented_code() -> None:
    for spec in COMMANDS:
        assert spec.usage_exit in {m.code for m in spec.exits}, spec.name
        assert spec.exits[-1].code == 70


def test_groups_and_top_level_help_list_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"], {}) == 0
    text = capsys.readouterr().out
    for spec in COMMANDS:
        assert spec.words[0] in text
    assert {s.words[0] for s in COMMANDS if len(s.words) > 1} == set(GROUPS)


def test_units_run_commands_of_the_table_and_take_their_success_codes() -> None:
    for unit in AUTOMATION_UNITS:
        spec = command(unit.exit_command)
        assert unit.argv[: len(spec.words)] == spec.words
        assert unit.success_exit_status == systemd_success_codes(spec.name)
    assert systemd_success_codes("join") == (2,) and systemd_success_codes("health-report") == ()
    with pytest.raises(KeyError, match="no fba command 'bogus'"):
        command("bogus")


def test_every_differs_from_names_another_flag_of_its_command() -> None:
    """A relation naming a flag the command lacks would never fire (no usage error at all)."""
    for spec in COMMANDS:
        flags = {flag for arg in spec.args for flag in arg.flags}
        for arg in spec.args:
            if arg.differs_from is not None:
                assert arg.differs_from in flags and arg.differs_from not in arg.flags, (spec.name, arg.flags)
