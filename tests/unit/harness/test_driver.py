"""Driver globals and script execution on fake nodes (no VMs, fake time)."""

from __future__ import annotations

import os
import unittest
from pathlib import Path

import pytest

from harness.driver import Driver, PollingCondition, run_script, script_problem
from harness.errors import CheckFailed, CommandFailed, HarnessError, Interrupted, UnsupportedVerb, UsageError
from harness.log import RunLog
from harness.waits import WaitExpired
from tests.unit.harness.machine.fakes import FakeClock, FakeNode


def nodes(clock: FakeClock, *names: str) -> list[FakeNode]:
    return [FakeNode(n, lambda c, _t: (1 if "false" in c else 0, "ok\n", 0.1), clock) for n in names]


def driver(clock: FakeClock, ns: list[FakeNode], **kw: object) -> Driver:
    return Driver(ns, run_log=RunLog(quiet=True), clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_globals_have_driver_names() -> None:
    clock = FakeClock()
    ns = nodes(clock, "node01", "node-02")
    g = driver(clock, ns).test_symbols()
    for name in ("start_all", "join_all", "subtest", "machines", "driver", "log", "retry",
                 "polling_condition", "t", "node01", "node_02"):  # fmt: skip
        assert name in g
    assert "machine" not in g
    assert isinstance(g["t"], unittest.TestCase)
    with pytest.raises(HarnessError, match="create_machine: not supported"):
        g["create_machine"]({})
    assert g["serial_stdout_on"]() is None and g["serial_stdout_off"]() is None  # no-ops: console.log has it all
    assert g["vlans"] == [] and g["machines"] == ns


def test_machine_alias_for_single_node() -> None:
    clock = FakeClock()
    ns = nodes(clock, "solo")
    assert driver(clock, ns).test_symbols()["machine"] is ns[0]


SCRIPT = """
start_all()
with subtest("first"):
    node01.succeed("true")
    t.assertEqual(node02.succeed("echo"), "ok\\n")
with subtest("second"):
    node01.wait_until_succeeds("true", timeout=10)
    log.info("hello")
join_all()
"""


def test_run_script_unchanged_records_subtests() -> None:
    clock = FakeClock()
    ns = nodes(clock, "node01", "node02")
    d = driver(clock, ns)
    d.run_script(SCRIPT)
    assert [n.started for n in ns] == [1, 1] and [n.shutdowns for n in ns] == [1, 1]
    assert [(s.name, s.failure) for s in d.subtests] == [("first", None), ("second", None)]
    assert all(s.duration > 0 for s in d.subtests)


def test_failed_subtest_is_recorded_and_raised() -> None:
    clock = FakeClock()
    d = driver(clock, nodes(clock, "node01"))
    with pytest.raises(CommandFailed):
        d.run_script('with subtest("bad"):\n    machine.succeed("false")\n')
    assert d.subtests[0].name == "bad"
    assert d.subtests[0].failure is not None and "exit code 1" in d.subtests[0].failure


def test_keep_going_records_every_failing_subtest() -> None:
    clock = FakeClock()
    d = driver(clock, nodes(clock, "node01"), keep_going=True)
    d.run_script(
        'with subtest("a"):\n    machine.succeed("false")\n'
        'with subtest("b"):\n    t.assertTrue(False)\n'
        'with subtest("c"):\n    machine.succeed("true")\n'
    )
    assert [s.failure is not None for s in d.subtests] == [True, True, False]


def test_script_from_path(tmp_path: Path) -> None:
    clock = FakeClock()
    ns = nodes(clock, "node01")
    script = tmp_path / "s.py"
    script.write_text('machine.succeed("true")\n')
    run_script(script, ns, run_log=RunLog(quiet=True), clock=clock, sleep=clock.sleep)
    assert ns[0].commands == ["true"]


def test_global_timeout_caps_waits() -> None:
    clock = FakeClock()
    ns = nodes(clock, "node01")
    d = driver(clock, ns, global_timeout=20)
    begin = clock.now
    with pytest.raises(WaitExpired):
        d.run_script('machine.wait_until_succeeds("false", timeout=900)')
    assert clock.now - begin < 22


def test_retry_polls_each_second_with_last_try_flag() -> None:
    clock = FakeClock()
    d = driver(clock, nodes(clock, "n"))
    flags: list[bool] = []
    with pytest.raises(WaitExpired, match="retry"):
        d.retry(lambda last: bool(flags.append(last)), timeout_seconds=5)
    assert flags[-1] is True and flags[0] is False
    assert all(n <= 1.0 for n in clock.naps)


@pytest.mark.parametrize("keyword", ["timeout", "timeout_seconds"])
def test_retry_takes_timeout_and_the_older_timeout_seconds(keyword: str) -> None:
    clock = FakeClock()
    d = driver(clock, nodes(clock, "n"))
    begin = clock.now
    with pytest.raises(WaitExpired, match="of a 7.0 s budget"):
        d.test_symbols()["retry"](lambda _last: False, **{keyword: 7})
    assert 7 <= clock.now - begin < 8.5
    calls = iter([False, False, True])
    d.retry(lambda _last: next(calls), 5)  # positional, as in the driver
    called = []
    with pytest.raises(UsageError, match="not both"):
        d.retry(lambda _last: called.append(1) or True, timeout=1, timeout_seconds=1)
    assert called == []


def test_os_and_out_dir_are_the_drivers(tmp_path: Path) -> None:
    clock = FakeClock()
    ns = nodes(clock, "node01")
    d = driver(clock, ns, out_dir=tmp_path / "out")
    g = d.test_symbols()
    assert g["os"] is os and g["driver"].out_dir == tmp_path / "out"
    assert ns[0].out_dir == tmp_path / "out", "copy_from_machine lands under driver.out_dir"
    d.run_script('import json\nassert os.path.isdir("/")\nassert json.loads("[1]") == [1]\n')


@pytest.mark.parametrize("line", ["import test_driver", "from test_driver.machine import Machine",
                                  "import test_driver.errors as e"])  # fmt: skip
def test_importing_test_driver_fails_in_one_line_naming_the_globals(line: str) -> None:
    clock = FakeClock()
    d = driver(clock, nodes(clock, "node01"))
    with pytest.raises(UnsupportedVerb) as info:
        d.run_script(line + "\n")
    text = str(info.value)
    assert "\n" not in text and text.startswith("import test_driver")
    assert "globals (machine, retry, subtest, polling_condition" in text


def test_polling_condition_is_checked_inside_each_wait_attempt() -> None:
    """The condition turns false while a wait is still retrying: the wait ends at once with
    the driver's text, not at its timeout."""
    clock = FakeClock()
    attempts = [0]

    def guest(command: str, _t: float) -> tuple[int, str, float]:
        if command == "probe":
            attempts[0] += 1
            return 1, "", 0.5
        return 0, "", 0.0

    ns = [FakeNode("node01", guest, clock)]
    d = driver(clock, ns)
    script = (
        "@polling_condition(seconds_interval=0)\n"
        "def server_alive():\n"
        "    'server is alive'\n"
        "    return probes() < 3\n"
        "with server_alive:\n"
        "    machine.wait_until_succeeds('probe', timeout=600)\n"
    )
    symbols = d.test_symbols()
    symbols["probes"] = lambda: attempts[0]  # lets the condition see the guest's attempts
    begin = clock.now
    with pytest.raises(CheckFailed, match="^Polling condition failed: server is alive$"):
        exec(compile(script, "testScript", "exec"), symbols)
    assert attempts[0] == 3 and clock.now - begin < 10


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('machine.screenshot("x")\n', "s.py:1: screenshot is not supported by this harness; nodes run without"),
        ('start_all()\nnode01.send_chars("a")\n', "s.py:2: send_chars is not supported"),
        ("from test_driver.machine import Machine\n", "s.py:1: from test_driver.machine import ...: "),
        ("if True\n", "s.py:1: syntax error"),
    ],
)
def test_script_problem_finds_unsupported_verbs_before_running(tmp_path: Path, text: str, says: str) -> None:
    script = tmp_path / "s.py"
    script.write_text(text)
    problem = script_problem(script)
    assert problem is not None and says in problem and "\n" not in problem


def test_polling_condition_checked_before_commands() -> None:
    clock = FakeClock()
    ns = nodes(clock, "node01")
    d = driver(clock, ns)
    healthy = [True]
    d.run_script("")
    g = d.test_symbols()

    @g["polling_condition"]
    def cluster_healthy() -> bool:
        "cluster is healthy"
        ns[0].succeed("true")
        return healthy[0]

    with cluster_healthy:
        ns[0].succeed("true")
        healthy[0] = False
        clock.now += 5
        with pytest.raises(CheckFailed, match="^Polling condition failed: cluster is healthy$"):
            ns[0].succeed("true")
    ns[0].succeed("true")  # disarmed outside the block


def test_polling_condition_wait_is_bounded() -> None:
    clock = FakeClock()
    cond = PollingCondition(lambda: False, description="never", clock=clock, sleep=clock.sleep)
    with pytest.raises(WaitExpired, match="polling condition never"):
        cond.wait(timeout=3)


def test_an_interrupted_subtest_is_recorded_as_interrupted_not_passed() -> None:
    driver = Driver([], keep_going=True)
    with pytest.raises(Interrupted), driver.subtest("cut"):
        raise Interrupted("SIGTERM")
    [record] = driver.subtests
    assert (record.name, record.failure, record.interrupted) == ("cut", None, True)
