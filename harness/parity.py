"""Parity with the NixOS test driver, per verb: the facts live next to the code.

Each driver verb of `Node` (and each driver global that is a `Driver` method) ends its
docstring with a `Parity:` section, in the style of `Raises:`:

```text
Parity:
    Driver: what nixpkgs' test driver does (`DRIVER_SOURCE`).
    Ours: what this harness does, where it differs.
    Tests: test_one, test_two, driver_parity
```

The three keys appear once each, in that order, indented four spaces under `Parity:`; a
value continues on lines indented further and is joined with single spaces. `Tests:` is a
comma-separated list of `def test_...` names under `tests/` or file stems of
`tests/vm/compat/scripts/` (the script shows the verb on a real guest). Values are Markdown
(backticks, no `|` needed); a blank line or the docstring's end closes the section.

Driver globals that are not `Driver` methods (`os`, `t`, `vlans`, ...), and the unsupported
verbs as one row, are `SCRIPT_ROWS` here. `harness.docs_render` renders every row into
docs/harness-api.md; tests/unit/harness/test_parity_table.py fails when the page and the
docstrings drift, when a cited test does not exist, and when a driver verb has no row.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from harness.driver import Driver
from harness.machine.node import Node
from harness.machine.unsupported import UNSUPPORTED_VERBS

__all__ = [
    "DRIVER_GLOBALS",
    "DRIVER_MACHINE_VERBS",
    "DRIVER_METHOD_GLOBALS",
    "DRIVER_SOURCE",
    "FIELDS",
    "ParityError",
    "ParityRow",
    "SCRIPT_ROWS",
    "parity_rows",
    "parse_parity",
]

DRIVER_SOURCE = (
    "nixpkgs `nixos/lib/test-driver/src/test_driver/`: `machine/__init__.py` at 019697db, "
    "`driver.py` at 003d5816, `polling_condition.py`"
)
"""What the `Driver:` parts were read against."""

DRIVER_MACHINE_VERBS: tuple[str, ...] = (
    # lifecycle
    "start", "shutdown", "crash", "reboot", "wait_for_shutdown", "is_up", "connect",
    # commands
    "execute", "succeed", "fail", "wait_until_succeeds", "wait_until_fails", "sleep", "run_callbacks",
    # waits
    "wait_for_file", "wait_for_open_port", "wait_for_closed_port", "wait_for_open_unix_socket",
    # systemd
    "systemctl", "wait_for_unit", "wait_for_unit_active_state", "get_unit_info", "get_unit_property",
    "require_unit_state",
    "start_job", "stop_job",
    # files
    "copy_from_host", "copy_from_host_via_shell", "copy_from_machine", "copy_from_vm",
    # console, QEMU, network, log
    "wait_for_console_text", "get_console_log", "send_console", "send_monitor_command",
    "wait_for_qmp_event", "block", "unblock", "log", "nested",
    # no display, no TTYs, no interaction here: `UNSUPPORTED_VERBS`
    "screenshot", "get_screen_text", "get_screen_text_variants", "wait_for_text", "send_key",
    "send_chars", "wait_for_x", "wait_for_window", "get_window_names", "get_tty_text",
    "wait_until_tty_matches", "dump_tty_contents", "shell_interact", "console_interact",
    "forward_port", "switch_root",
)  # fmt: skip
"""Every public verb of the driver's `BaseMachine` + `QemuMachine` (`DRIVER_SOURCE`), in the
order of the table. Plumbing is left out (`release`, `log_serial`, `cleanup_statedir`,
`ssh_backdoor_command`, `wait_for_monitor_prompt`)."""

DRIVER_GLOBALS: tuple[str, ...] = (
    "start_all", "join_all", "subtest", "retry", "polling_condition", "machines", "machine",
    "driver", "log", "t", "os", "serial_stdout_on", "serial_stdout_off", "vlans", "create_machine",
)  # fmt: skip
"""The driver's `testScript` globals that scripts use; each needs a row (method or data)."""

DRIVER_METHOD_GLOBALS: tuple[str, ...] = ("start_all", "join_all", "subtest", "retry", "polling_condition")
"""The globals whose parity lives in the `Driver` method's docstring."""

FIELDS = ("Driver", "Ours", "Tests")
_SECTION = "Parity:"
_KEY = re.compile(r"^    (\w+):(?: (.*))?$")


class ParityError(ValueError):
    """A `Parity:` section that does not follow the convention (message names where)."""


@dataclass(frozen=True)
class ParityRow:
    """One row of the table: the names it covers (`scope`: a machine's verbs or the script's
    globals; `log` is both), its first cell, and the three facts."""

    scope: Literal["machine", "script"]
    verbs: tuple[str, ...]
    label: str
    driver: str
    ours: str
    tests: tuple[str, ...]


def parse_parity(doc: str | None, where: str) -> dict[str, str] | None:
    """`{"Driver": ..., "Ours": ..., "Tests": ...}` from a docstring's `Parity:` section, or
    None if it has none.

    Raises:
        ParityError: a key is unknown, repeated, missing or out of order, or a line fits
            neither a key nor a continuation.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    if _SECTION not in lines:
        return None
    values: dict[str, list[str]] = {}
    for line in lines[lines.index(_SECTION) + 1 :]:
        if not line.strip():
            break
        key = _KEY.match(line)
        if key is not None:
            name = key[1]
            if name not in FIELDS or name in values:
                raise ParityError(f"{where}: Parity key {name!r} unknown or repeated; keys are {', '.join(FIELDS)}")
            values[name] = [key[2] or ""]
        elif line.startswith("     ") and values:
            values[list(values)[-1]].append(line.strip())
        else:
            raise ParityError(f"{where}: Parity line {line.strip()!r} is neither 'Key: value' (4 spaces) "
                              f"nor a continuation (more than 4)")  # fmt: skip
    if tuple(values) != FIELDS:
        raise ParityError(f"{where}: Parity keys are {', '.join(values) or 'none'}; want {', '.join(FIELDS)}")
    return {name: " ".join(part for part in parts if part) for name, parts in values.items()}


def _signature(name: str, fn: Callable[..., Any]) -> str:
    """The call shape, without `self` or argument annotations: `name(arg, key=default) -> T`,
    or `with name(arg):` for a context manager; no `-> None` or `-> Any`."""
    sig = inspect.signature(fn)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values() if p.name != "self"]
    call = f"{name}{sig.replace(parameters=params, return_annotation=inspect.Signature.empty)}"
    if hasattr(fn, "__wrapped__"):  # @contextmanager: its `Iterator[None]` is not what callers get
        return f"`with {call}:`"
    returns = sig.return_annotation
    return f"`{call}`" if returns in ("None", "Any", inspect.Signature.empty) else f"`{call} -> {returns}`"


def _row(owner: type, name: str) -> ParityRow:
    where = f"{owner.__name__}.{name}"
    fn = getattr(owner, name)
    facts = parse_parity(inspect.getdoc(fn), where)
    if facts is None:
        raise ParityError(f"{where}: no Parity section in its docstring (see harness.parity)")
    tests = tuple(t.strip() for t in facts["Tests"].split(",") if t.strip())
    scope: Literal["machine", "script"] = "script" if owner is Driver else "machine"
    return ParityRow(scope, (name,), _signature(name, fn), facts["Driver"], facts["Ours"], tests)


def _unsupported_row() -> ParityRow:
    verbs = tuple(UNSUPPORTED_VERBS)
    return ParityRow(
        scope="machine",
        verbs=verbs,
        label=", ".join(f"`{v}`" for v in verbs),
        driver="display (`screendump`, OCR, `sendkey`), TTY, X11, interactive, port-forwarding and initrd verbs",
        ours="each raises `UnsupportedVerb`: one line naming the verb and what to use instead "
        "(`UNSUPPORTED_VERBS`); `cluster-test` exit 4, before booting when the script names it",
        tests=(
            "test_unsupported_verbs_raise_one_line_naming_themselves",
            "test_every_driver_verb_exists",
            "test_script_problem_finds_unsupported_verbs_before_running",
            "test_unsupported_verb_at_run_time_is_exit_4_one_line",
            "test_script_with_an_unsupported_verb_exits_4_in_one_line_before_booting",
            "test_a_gui_script_is_refused_before_booting_in_one_line_naming_its_verb",
            "test_display_scripts_exit_4_before_booting",
            "nixos_driver_x11",
            "nixos_driver_ocr",
            "nixos_driver_tty",
            "nixos_driver_low_level",
            "nixos_driver_networking",
        ),
    )


SCRIPT_ROWS: tuple[ParityRow, ...] = (
    ParityRow(
        scope="script",
        verbs=("machines", "machine"),
        label="`machines`, one variable per node, `machine`",
        driver="one variable per machine (its name with non-identifier characters as `_`); `machine` "
        "when there is exactly one; the lists `machines_qemu` and `machines_nspawn` (older drivers: "
        "`machines`)",
        ours="one variable per node (non-word characters become `_`); `machine` for a one-node run; "
        "`machines` lists every node",
        tests=("test_globals_have_driver_names", "test_machine_alias_for_single_node"),
    ),
    ParityRow(
        scope="script",
        verbs=("driver", "os"),
        label="`os`, `driver`, `driver.out_dir`",
        driver="globals / attribute",
        ours="same; `driver.out_dir` is `Driver(out_dir=...)`, else `$out` or the working directory "
        "(`cluster-test` uses `REPORT/out`), and every node's `out_dir`",
        tests=("test_os_and_out_dir_are_the_drivers", "nixos_driver_files"),
    ),
    ParityRow(
        scope="script",
        verbs=("log",),
        label="`log`",
        driver="the driver's logger",
        ours="`log.log/info/warning/error(msg)` and `with log.nested(msg):` on the run log",
        tests=("test_run_script_unchanged_records_subtests",),
    ),
    ParityRow(
        scope="script",
        verbs=("t",),
        label="`t`",
        driver="a `unittest.TestCase` for `t.assertEqual` and friends; a failed assert raises "
        "`RequestedAssertionFailed`",
        ours="a `unittest.TestCase`; a failed assert raises `AssertionError` (as `CheckFailed` is one)",
        tests=("test_globals_have_driver_names", "nixos_driver_junit"),
    ),
    ParityRow(
        scope="script",
        verbs=("serial_stdout_on", "serial_stdout_off", "vlans", "create_machine"),
        label="`serial_stdout_on/off`, `vlans`, `create_machine`",
        driver="serial lines in the log on/off; the VLANs; a new machine from a start command",
        ours="no-ops (the console always goes to `console.log`); empty; raises `HarnessError` (nodes "
        "come from the cluster definition)",
        tests=("test_globals_have_driver_names",),
    ),
    ParityRow(
        scope="script",
        verbs=(),
        label="`import test_driver...`",
        driver="works (the driver's package)",
        ours="one-line `UnsupportedVerb` naming the globals; exit 4, before booting if literal",
        tests=(
            "test_importing_test_driver_fails_in_one_line_naming_the_globals",
            "test_script_with_an_unsupported_verb_exits_4_in_one_line_before_booting",
        ),
    ),
    _unsupported_row(),
)
"""Rows with no method docstring to live in: script globals and the unsupported verbs."""


def parity_rows() -> list[ParityRow]:
    """Every row, in table order: `Node` verbs, `Driver` method globals, `SCRIPT_ROWS`.

    Raises:
        ParityError: a verb that needs a `Parity:` section lacks one or breaks the convention.
    """
    node_verbs = [v for v in DRIVER_MACHINE_VERBS if v not in UNSUPPORTED_VERBS]
    return [
        *(_row(Node, v) for v in node_verbs),
        *(_row(Driver, g) for g in DRIVER_METHOD_GLOBALS),
        *SCRIPT_ROWS,
    ]
