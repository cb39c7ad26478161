"""Run NixOS test-driver `testScript`s unchanged against our nodes.

`Driver` builds the script globals the NixOS driver provides: `start_all`, `join_all`,
`subtest`, `machines`, one variable per node (`node01`, ...), `machine` when there is exactly
one node, `driver`, `log`, `retry`, `polling_condition`, `t` (a `unittest.TestCase` for
`t.assertEqual` and friends), `serial_stdout_on`/`serial_stdout_off`, `os`.
`import test_driver...` in a script raises `UnsupportedVerb` (one line naming the globals to
use instead); `script_problem` finds that and unsupported verbs before anything boots.

Differences, on purpose: every wait is bounded; the whole script runs under
`global_timeout` (each node's waits are capped by it); every subtest is recorded with its
real duration and failure text (`Driver.subtests`, for JUnit); with `keep_going=True` a
failed subtest is recorded and the script continues, so every failure is reported.

```python
driver = Driver([node01, node02], run_log=run_log)
driver.run_script(Path("tests/scripts/etcd-multi-node.py"))
for record in driver.subtests: print(record.name, record.duration, record.failure)
```
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import time
import traceback
import unittest
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from harness.errors import CheckFailed, HarnessError, UnsupportedVerb, UsageError
from harness.log import RunLog
from harness.machine.unsupported import UNSUPPORTED_VERBS
from harness.waits import POLL_EVERY_SECOND, Clock, Duration, Observation, Sleep, seconds, wait_until

__all__ = ["DEFAULT_GLOBAL_TIMEOUT", "Driver", "DriverNode", "PollingCondition", "SubtestRecord",
           "run_script", "script_problem"]  # fmt: skip

DEFAULT_GLOBAL_TIMEOUT = 3600.0
"""Per-script budget (the Nix default is 1 h); every wait inside is capped by it."""


class DriverNode(Protocol):
    """What the driver needs of a node (`harness.machine.Node` satisfies it)."""

    name: str
    deadline_cap: float | None
    before_command: list[Callable[[], None]]
    out_dir: Path

    def start(self, allow_reboot: bool = False) -> None: ...
    def wait_for_shutdown(self) -> None: ...


@dataclass(frozen=True)
class SubtestRecord:
    """One subtest as JUnit needs it: name, wall-clock duration, failure text or None, and
    whether an interrupt (SIGINT/SIGTERM) cut it short."""

    name: str
    started: float
    duration: float
    failure: str | None = None
    interrupted: bool = False


class PollingCondition:
    """A condition that must hold while a block runs, checked before guest commands.

    The function passes if it returns True or None, fails if it returns False or raises.
    """

    def __init__(
        self, condition: Callable[[], Any], *, seconds_interval: float = 2.0,
        description: str | None = None, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
    ) -> None:  # fmt: skip
        self.condition = condition
        self.seconds_interval = seconds_interval
        self.description = description or (condition.__doc__ or condition.__name__).strip()
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None

    def check(self, force: bool = False) -> bool:
        """Evaluate now if `force` or the interval has passed; True if it holds."""
        now = self._clock()
        if not force and self._last is not None and now - self._last < self.seconds_interval:
            return True
        self._last = now
        try:
            result = self.condition()
        except Exception:
            return False
        return result is None or bool(result)

    def maybe_raise(self) -> None:
        """Raise `CheckFailed` if the (due) check fails."""
        if not self.check():
            # The driver's PollingConditionError text, word for word.
            raise CheckFailed(f"Polling condition failed: {self.description}")

    def wait(self, timeout: Duration = 900) -> None:
        """Wait until the condition holds (bounded)."""
        wait_until(lambda _left: self.check(force=True), what=f"polling condition {self.description}",
                   timeout=timeout, clock=self._clock, sleep=self._sleep)  # fmt: skip


class _Poll:
    """What `@polling_condition` returns: a context manager that arms the condition."""

    def __init__(self, driver: Driver, condition: PollingCondition) -> None:
        self._driver = driver
        self.condition = condition

    def __enter__(self) -> _Poll:
        self._driver.polling_conditions.append(self.condition)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._driver.polling_conditions.remove(self.condition)

    def __call__(self) -> bool:
        return self.condition.check(force=True)

    def wait(self, timeout: Duration = 900) -> None:
        self.condition.wait(timeout)


class _ScriptLog:
    """The `log` global: `log.log/info/warning/error(msg)` and `with log.nested(msg):`."""

    def __init__(self, run_log: RunLog) -> None:
        self._run = run_log
        self.nested = run_log.nested

    def log(self, msg: str) -> None:
        self._run.log(msg)

    info = log

    def warning(self, msg: str) -> None:
        self._run.log(msg, style="yellow")

    def error(self, msg: str) -> None:
        self._run.log(msg, style="bold red")


class _Asserts(unittest.TestCase):
    def runTest(self) -> None:
        """Unused: the instance only lends its assert methods to scripts as `t`."""


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)


class Driver:
    """Script globals and bookkeeping for one test script over `nodes`."""

    def __init__(
        self, nodes: Sequence[DriverNode], *, run_log: RunLog | None = None,
        global_timeout: Duration = DEFAULT_GLOBAL_TIMEOUT, keep_going: bool = False,
        clock: Clock = time.monotonic, sleep: Sleep = time.sleep, out_dir: Path | None = None,
    ) -> None:  # fmt: skip
        self.machines = list(nodes)
        self.out_dir = out_dir if out_dir is not None else Path(os.environ.get("out", os.getcwd()))
        """The driver's `out_dir` ($out, else the working directory): every node's
        `copy_from_machine` puts files under it, as the driver's machines do."""
        for node in self.machines:
            node.out_dir = self.out_dir
        self.run_log = run_log or RunLog()
        self.keep_going = keep_going
        self.subtests: list[SubtestRecord] = []
        self.polling_conditions: list[PollingCondition] = []
        self._clock = clock
        self._sleep = sleep
        self._global_timeout = global_timeout
        self._in_conditions = False
        for node in self.machines:
            node.before_command.append(self._check_polling_conditions)

    # -- globals ---------------------------------------------------------------------------
    def start_all(self) -> None:
        """Start every node (QEMU processes; boots continue in parallel).

        Parity:
            Driver: `start()` on every machine
            Ours: the same (the boots go on in parallel)
            Tests: test_run_script_unchanged_records_subtests
        """
        with self.run_log.nested("starting all VMs"):
            for node in self.machines:
                node.start()

    def join_all(self) -> None:
        """Wait until every node has shut down.

        Parity:
            Driver: `wait_for_shutdown()` on every machine, without a bound
            Ours: the same, each wait bounded by the run deadline
            Tests: test_run_script_unchanged_records_subtests, nixos_driver_power
        """
        with self.run_log.nested("waiting for all VMs to finish"):
            for node in self.machines:
                node.wait_for_shutdown()

    @contextmanager
    def subtest(self, name: str) -> Iterator[None]:
        """A named, timed part of the script, recorded for JUnit (failures too).

        Parity:
            Driver: groups the log under the name; a failure is logged as `Test "NAME" failed with error:
                "..."` and raised
            Ours: the same text; every subtest is recorded with its real duration and failure text
                (`Driver.subtests`, for JUnit); with `keep_going=True` a failed assert is recorded and the
                script goes on, so JUnit shows every failure; an interrupt is recorded as interrupted
            Tests: test_run_script_unchanged_records_subtests, test_failed_subtest_is_recorded_and_raised,
                test_keep_going_records_every_failing_subtest,
                test_an_interrupted_subtest_is_recorded_as_interrupted_not_passed,
                test_a_failing_subtest_exits_1_reaches_junit_and_keep_on_failure_keeps, nixos_driver_files
        """
        begin = self._clock()
        failure: str | None = None
        interrupted = False
        try:
            with self.run_log.nested(f"subtest: {name}"):
                yield
        except KeyboardInterrupt:  # also `Interrupted` (SIGTERM): not a pass, not a failure
            interrupted = True
            raise
        except Exception as err:
            failure = f"{type(err).__name__}: {err}\n{''.join(traceback.format_tb(err.__traceback__))}"
            self.run_log.log(f'Test "{name}" failed with error: "{err}"', style="bold red")
            if not (self.keep_going and isinstance(err, AssertionError)):
                raise
        finally:
            self.subtests.append(SubtestRecord(name, begin, self._clock() - begin, failure, interrupted))

    def retry(self, fn: Callable[[bool], bool], timeout: Duration | None = None, *,
              timeout_seconds: Duration | None = None) -> None:  # fmt: skip
        """Call `fn(last_try)` about once a second until it returns True.

        `last_try` is True on the final attempt, so `fn` can log what it saw. The budget
        (seconds, default 900) is `timeout` or, the driver's older keyword, `timeout_seconds`.

        Raises:
            WaitExpired: `fn` never returned True within the budget.
            UsageError: both `timeout` and `timeout_seconds` given (exit 4), before any call.

        Parity:
            Driver: `fn(False)` once a second until it returns True, then one last `fn(True)`; the budget is
                `timeout_seconds` (default 900, at the commit read); `RequestedAssertionFailed` "action timed
                out"
            Ours: `fn(last_try)` about once a second; the budget is `timeout` or `timeout_seconds`, positional
                too; `WaitExpired`
            Tests: test_retry_polls_each_second_with_last_try_flag,
                test_retry_takes_timeout_and_the_older_timeout_seconds, nixos_driver_low_level
        """
        if timeout is not None and timeout_seconds is not None:
            # A script bug, like an unsupported verb: one line and exit 4, not a traceback (exit 1).
            raise UsageError("retry(): pass timeout or timeout_seconds, not both")
        budget = timeout if timeout is not None else timeout_seconds if timeout_seconds is not None else 900

        def attempt(left: float) -> Observation:
            return Observation(ok=bool(fn(left <= 1.5)))

        wait_until(attempt, what=f"retry({getattr(fn, '__name__', 'fn')})", timeout=budget,
                   clock=self._clock, sleep=self._sleep, backoff=POLL_EVERY_SECOND)  # fmt: skip

    def polling_condition(
        self, fun_: Callable[[], Any] | None = None, *, seconds_interval: float = 2.0,
        description: str | None = None,
    ) -> Any:  # fmt: skip
        """Decorator: `@polling_condition` or `@polling_condition(seconds_interval=5)`.

        Parity:
            Driver: armed by `with cond:`; `execute` checks it before every command, so on every `retry`
                attempt (at most every `seconds_interval`); the failure text is `Polling condition failed:
                DESC`
            Ours: checked before every command and every attempt of every wait (`run_callbacks`), and before
                `send_monitor_command` and `copy_*`; the same text (`CheckFailed`)
            Tests: test_polling_condition_checked_before_commands,
                test_polling_condition_is_checked_inside_each_wait_attempt,
                test_failing_polling_condition_ends_a_wait_at_once, test_polling_condition_wait_is_bounded,
                driver_parity, nixos_driver_polling_condition
        """

        def wrap(fun: Callable[[], Any]) -> _Poll:
            cond = PollingCondition(fun, seconds_interval=seconds_interval, description=description,
                                    clock=self._clock, sleep=self._sleep)  # fmt: skip
            return _Poll(self, cond)

        return wrap if fun_ is None else wrap(fun_)

    def _check_polling_conditions(self) -> None:
        if self._in_conditions:
            return  # a condition's own commands must not re-check conditions
        self._in_conditions = True
        try:
            for condition in list(self.polling_conditions):
                condition.maybe_raise()
        finally:
            self._in_conditions = False

    def test_symbols(self) -> dict[str, Any]:
        """The globals a driver `testScript` expects."""
        symbols: dict[str, Any] = {
            "start_all": self.start_all,
            "join_all": self.join_all,
            "subtest": self.subtest,
            "machines": self.machines,
            "driver": self,
            "log": _ScriptLog(self.run_log),
            "retry": self.retry,
            "polling_condition": self.polling_condition,
            "t": _Asserts(),
            "serial_stdout_on": lambda: None,
            "serial_stdout_off": lambda: None,
            "create_machine": _not_supported("create_machine"),
            "vlans": [],
            "os": os,
            "__builtins__": _script_builtins(),
        }
        for node in self.machines:
            symbols[_identifier(node.name)] = node
        if len(self.machines) == 1:
            symbols["machine"] = self.machines[0]
        return symbols

    def run_script(self, script: str | Path, filename: str = "testScript") -> None:
        """Execute a driver script (a path or the script text) with the driver globals.

        The whole script is bounded by `global_timeout`: every node wait is capped by it.

        Raises:
            whatever the script raises: `CheckFailed`/`AssertionError` (test failed),
            `WaitTimeout` (a wait expired), `InfrastructureError` (the host failed).
        """
        if isinstance(script, Path) or ("\n" not in script and Path(script).is_file()):
            filename = str(script)
            script = Path(script).read_text()
        deadline = self._clock() + seconds(self._global_timeout)
        for node in self.machines:
            node.deadline_cap = deadline
        code = compile(script, filename, "exec")
        with self.run_log.nested(f"running {filename}"):
            exec(code, self.test_symbols())


_TEST_DRIVER_HINT = ("the NixOS test_driver package is not available here; its globals (machine, "
                     "retry, subtest, polling_condition, t, driver, ...) are already defined, and "
                     "failed checks raise AssertionError")  # fmt: skip


def _script_builtins() -> dict[str, Any]:
    """Builtins for a script whose `import test_driver...` fails with one line saying why."""
    real_import = builtins.__import__

    def guarded_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "test_driver" or name.startswith("test_driver."):
            raise UnsupportedVerb(f"import {name}: {_TEST_DRIVER_HINT}")
        return real_import(name, *args, **kwargs)

    table = dict(vars(builtins))
    table["__import__"] = guarded_import
    return table


def script_problem(script: Path) -> str | None:
    """One line naming what makes `script` unrunnable here, found without running it: a
    syntax error, `import test_driver...`, or a call of an unsupported verb by name
    (`x.screenshot(...)`; see `UNSUPPORTED_VERBS`). None if nothing is found (a verb reached
    dynamically still raises `UnsupportedVerb` when called)."""
    try:
        tree = ast.parse(script.read_text(), filename=str(script))
    except SyntaxError as err:
        return f"{script}:{err.lineno}: syntax error: {err.msg}"
    for node in ast.walk(tree):
        where = f"{script}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "test_driver":
                    return f"{where}: import {alias.name}: {_TEST_DRIVER_HINT}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "test_driver":
            return f"{where}: from {node.module} import ...: {_TEST_DRIVER_HINT}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in UNSUPPORTED_VERBS:  # fmt: skip
            verb = node.func.attr
            return f"{where}: {verb} is not supported by this harness; {UNSUPPORTED_VERBS[verb]}"
    return None


def _not_supported(name: str) -> Callable[..., Any]:
    def raiser(*_args: Any, **_kwargs: Any) -> Any:
        raise HarnessError(f"{name}: not supported; nodes come from the cluster definition")

    return raiser


def run_script(script: str | Path, nodes: Sequence[DriverNode], **driver_args: Any) -> Driver:
    """Run a driver `testScript` against `nodes`; returns the `Driver` (subtest records).

    ```python
    driver = run_script("machine.wait_for_unit('multi-user.target')", [node])
    ```
    """
    driver = Driver(nodes, **driver_args)
    driver.run_script(script)
    return driver
