"""An interrupted `cluster-test` run (SIGTERM or SIGINT) still writes junit.xml and summary.txt,
saying what ran, what was running (interrupted) and what never started (not run), tears
everything down and exits 130. No VM boots: the scenario path runs tiny fake scenarios
(`FBA_SCENARIOS`), the `--script` path a script whose node is made but never started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.network.netns import alive

CLUSTER_TEST = Path(sys.executable).parent / "cluster-test"
INTERRUPTED = 130

FAKE_SCENARIOS = """
import os
import time
from pathlib import Path

from harness.machine import reaper


def test_a_passes():
    pass


def test_b_blocks():
    reaper.register("fake", lambda: Path(os.environ["FAKE_TORN_DOWN"]).write_text("torn down"))
    Path(os.environ["FAKE_READY"]).write_text(str(os.getpid()))
    time.sleep(300)  # the blocked test: the signal ends it


def test_c_never_runs():
    pass
"""

BLOCKING_SCRIPT = """
import os
import time
from pathlib import Path

with subtest("first"):
    pass
with subtest("blocks"):
    Path(os.environ["FAKE_READY"]).write_text(str(os.getpid()))
    time.sleep(300)  # the blocked subtest: the signal ends it
"""


def interrupt_when_ready(argv: list[str], env: dict[str, str], ready: Path, signum: int) -> tuple[int, str, str]:
    """Run cluster-test, send `signum` once `ready` exists; returns (exit code, stdout, stderr)."""
    proc = subprocess.Popen([str(CLUSTER_TEST), *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90  # the KVM probe (cached after the first) and pytest start-up
        while not ready.exists():
            if proc.poll() is not None:
                pytest.fail(f"cluster-test ended (rc {proc.returncode}) before the run was ready: "
                            f"{proc.stderr.read() if proc.stderr else ''}")  # fmt: skip
            if time.monotonic() > deadline:
                pytest.fail(f"the blocking test never wrote {ready} within 90 s")
            time.sleep(0.05)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=90)
        return proc.returncode, out, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if ready.exists():  # the process that blocked must be gone; if the test failed, make it so
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(ready.read_text()), signal.SIGKILL)


def cases(junit: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(junit).getroot().iter("testcase")}


def properties(junit: Path) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in ET.parse(junit).getroot().iter("property")}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_scenario_run_reports_what_ran_was_cut_short_and_never_started(
    tmp_path: Path, signum: signal.Signals
) -> None:
    fake = tmp_path / "fake_scenarios"
    fake.mkdir()
    (fake / "test_fake.py").write_text(FAKE_SCENARIOS)
    ready, torn_down, run = tmp_path / "ready", tmp_path / "torn-down", tmp_path / "run"
    env = {**os.environ, "FBA_SCENARIOS": str(fake), "FAKE_READY": str(ready), "FAKE_TORN_DOWN": str(torn_down)}
    rc, out, err = interrupt_when_ready(["--report", str(run), "--timeout", "600"], env, ready, signum)
    name = signum.name
    assert rc == INTERRUPTED, err
    assert err.splitlines()[-1] == f"cluster-test: interrupted by {name}; everything started was torn down"
    assert torn_down.read_text() == "torn down"  # the run's reaper ran
    assert not alive(int(ready.read_text()))  # the pytest run is gone
    found = cases(run / "junit.xml")
    assert set(found) == {"test_a_passes", "test_b_blocks", "test_c_never_runs"}
    assert list(found["test_a_passes"]) == []  # passed
    [error] = found["test_b_blocks"].findall("error")
    assert (error.get("type"), error.get("message")) == ("interrupted", f"interrupted by {name} while running")
    [skipped] = found["test_c_never_runs"].findall("skipped")
    assert skipped.get("message") == f"not run: the run was interrupted by {name}"
    assert properties(run / "junit.xml")["interrupted"] == name
    summary = (run / "summary.txt").read_text().splitlines()
    assert summary[0].startswith("ACCEL: ")
    assert summary[1] == f"result: interrupted (exit 130) by {name}"
    assert summary[2:5] == [
        f"  {'interrupted':14} test_fake.py::test_b_blocks",
        f"  {'not run':14} test_fake.py::test_c_never_runs",
        f"  {'passed':14} test_fake.py::test_a_passes",
    ]
    assert out.splitlines()[-len(summary) :] == summary  # printed as written


def test_a_sigkilled_cluster_test_still_tears_its_run_down(tmp_path: Path) -> None:
    """SIGKILL (a CI job's hard timeout) runs no handler in `cluster-test`: its pytest run, in a
    session of its own, ran on (with its VMs) until its own deadline. Tied to its parent, it now
    gets SIGTERM and tears down as on any interrupt."""
    fake = tmp_path / "fake_scenarios"
    fake.mkdir()
    (fake / "test_fake.py").write_text(FAKE_SCENARIOS)
    ready, torn_down, run = tmp_path / "ready", tmp_path / "torn-down", tmp_path / "run"
    env = {**os.environ, "FBA_SCENARIOS": str(fake), "FAKE_READY": str(ready), "FAKE_TORN_DOWN": str(torn_down)}
    rc, _, _ = interrupt_when_ready(["--report", str(run), "--timeout", "600"], env, ready, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    child = int(ready.read_text())
    deadline = time.monotonic() + 60
    while (alive(child) or not torn_down.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert torn_down.exists(), "the orphaned pytest run never tore down"
    assert not alive(child), f"the pytest run (pid {child}) outlived the SIGKILLed cluster-test by 60 s"


@pytest.mark.skipif(os.geteuid() != 0, reason="a --script run creates a network namespace: root")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_script_run_reports_and_leaves_nothing(tmp_path: Path, signum: signal.Signals) -> None:
    script, ready, run = tmp_path / "blocks.py", tmp_path / "ready", tmp_path / "run"
    script.write_text(BLOCKING_SCRIPT)
    env = {**os.environ, "FAKE_READY": str(ready)}
    namespace = None
    try:
        rc, out, err = interrupt_when_ready(["--script", str(script), "--nodes", "1", "--report", str(run)], env,
                                            ready, signum)  # fmt: skip
        namespace = json.loads((run / "cluster.json").read_text())["namespace"]
        name = signum.name
        assert rc == INTERRUPTED, err
        assert err.splitlines()[-1] == f"cluster-test: interrupted by {name}; everything started was torn down"
        assert namespace not in _netns_list()
        found = cases(run / "junit.xml")
        assert list(found) == ["first", "blocks", "main"]
        assert list(found["first"]) == []
        for interrupted in ("blocks", "main"):
            [error] = found[interrupted].findall("error")
            assert (error.get("type"), error.get("message")) == ("interrupted", f"interrupted by {name} while running")
        assert properties(run / "junit.xml")["interrupted"] == name
        summary = (run / "summary.txt").read_text().splitlines()
        assert summary[1:4] == [
            f"result: interrupted (exit 130) by {name}",
            f"  {'interrupted':14} blocks",
            f"  {'passed':14} first",
        ]
        assert out.splitlines()[-len(summary) :] == summary
    finally:
        if namespace is None and (run / "cluster.json").exists():
            namespace = json.loads((run / "cluster.json").read_text()).get("namespace")
        if namespace:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=10, check=False)


def _netns_list() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
