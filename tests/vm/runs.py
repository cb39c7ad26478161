"""Runs of `cluster-test` as a subprocess for the VM tier: the run's exit code, output, time and
report, the checks every run shares (torn down, subtests in JUnit), and the snapshots several
tests restore instead of booting (`Saved`, made once per session by tests/vm/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from harness.cli import STOP_GRACE
from harness.machine.process import die_with_parent

SCRIPTS = Path(__file__).parent / "compat" / "scripts"
CLUSTER_TEST = Path(sys.executable).parent / "cluster-test"
RUN_TIMEOUT = 480.0
"""Per-run deadline given to cluster-test: a hang guard (a passing 3-node run takes ~3-4 min)."""


@dataclass(frozen=True)
class Run:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    report: Path

    def junit(self) -> list[ET.Element]:
        return list(ET.parse(self.report / "junit.xml").getroot().iter("testcase"))

    def explain(self) -> str:
        head = f"exit {self.rc} after {self.seconds:.0f} s"
        return f"{head}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def cluster_test(*args: str, timeout: float = RUN_TIMEOUT + 120) -> subprocess.CompletedProcess[str]:
    """Run cluster-test; past `timeout` it gets SIGTERM (it then tears its nodes down) and SIGKILL
    only after `STOP_GRACE`. `subprocess.run(timeout=)` SIGKILLed it at once, and a killed
    pytest left it running: both left its QEMU processes behind. Tied to this process, it gets
    SIGTERM if pytest itself is killed."""
    proc = subprocess.Popen([str(CLUSTER_TEST), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=die_with_parent())  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # communicate() goes on reading, so its teardown never blocks on a full pipe
        try:
            out, err = proc.communicate(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
        err += f"\n(test: stopped after its {timeout:.0f} s timeout)".encode()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))  # fmt: skip


def run_script(name: str, report: Path, *, nodes: int, extra: tuple[str, ...] = (),
               run_timeout: float = RUN_TIMEOUT) -> Run:  # fmt: skip
    begin = time.monotonic()
    done = cluster_test("--script", str(SCRIPTS / name), "--nodes", str(nodes), "--report", str(report),
                        "--timeout", str(run_timeout), *extra, timeout=run_timeout + 120)  # fmt: skip
    run = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - begin, report)
    print(f"\n{name}: exit {run.rc} in {run.seconds:.1f} s")
    return run


def namespace_of(report: Path) -> str:
    described = json.loads((report / "cluster.json").read_text())
    namespace = described["namespace"]
    assert isinstance(namespace, str)
    return namespace


def netns_pids(namespace: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, timeout=10, check=False)
    return [int(p) for p in done.stdout.split()]


def namespaces() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def gone(pid: int) -> bool:
    """Exited and reaped, or at least a zombie (it no longer runs)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def assert_torn_down(run: Run) -> None:
    namespace = namespace_of(run.report)
    assert namespace not in namespaces(), f"namespace {namespace} left behind\n{run.explain()}"


def assert_subtests(run: Run, expected: list[str]) -> list[ET.Element]:
    """The subtests in order, then `main` (the whole script, as the NixOS driver records it)."""
    everything = run.junit()
    assert [c.get("name") for c in everything][-1:] == ["main"], run.explain()
    cases = everything[:-1]
    assert [c.get("name") for c in cases] == expected, run.explain()
    for case in cases:
        assert float(case.get("time", "0")) > 0.0, f"testcase {case.get('name')} has no real duration"
    return cases


@dataclass(frozen=True)
class Saved:
    """A snapshot made once per session by a run of formed.py with `--save-snapshot`, and the
    `--from` arguments the runs that restore it get: empty when it could not be made, so each of
    them boots instead (slower, but one failed boot then fails the one test that checks the
    save, not every test that restores it)."""

    run: Run
    args: tuple[str, ...]

    @property
    def path(self) -> Path | None:
        """The snapshot's directory, None when it could not be made."""
        return Path(self.args[1]) if self.args else None


SAVE_RUN_TIMEOUT = 900.0
"""A boot to every first boot done, then the save: ~3 min for three nodes on a quiet host; the
margin is for a busy one (the snapshot saves more than that in the runs that restore it)."""


def save_formed(tmp: Path, nodes: int) -> Saved:
    """Boot `nodes` nodes until every first boot is done (formed.py) and save them."""
    snap = tmp / "snap"
    run = run_script("formed.py", tmp / "run", nodes=nodes, run_timeout=SAVE_RUN_TIMEOUT,
                     extra=("--save-snapshot", str(snap)))  # fmt: skip
    made = run.rc == 0 and (snap / "cluster-snapshot.json").is_file()
    return Saved(run, ("--from", str(snap)) if made else ())


def assert_restored(run: Run, saved: Saved) -> None:
    """The run restored its nodes (when there was a snapshot): no boot on any console (the
    READY line is a boot's)."""
    if not saved.args:
        return  # the snapshot test failed and says why; this run booted
    consoles = sorted((run.report / "nodes").glob("*/console.log"))
    assert consoles, run.explain()
    booted = [c.parent.name for c in consoles if "FBA-READY" in c.read_text(errors="replace")]
    assert booted == [], f"{booted} booted instead of being restored\n{run.explain()}"


def assert_saved(saved: Saved) -> None:
    """The save's run passed, wrote its manifest and left nothing running."""
    assert saved.run.rc == 0, saved.run.explain()
    assert saved.args, f"no cluster-snapshot.json written\n{saved.run.explain()}"
    assert_torn_down(saved.run)
