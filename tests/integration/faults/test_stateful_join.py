"""Property-based fault schedules at the process tier (hypothesis stateful testing).

A 3-node chainfire stand-in cluster (real pysyncobj Raft) on loopback; the machine starts
joins of nodes 4-6 (optionally with a failpoint armed), kills, pauses and resumes the leader,
restarts killed stand-ins on their data dirs, reboots nodes, replays failed joins as systemd
would, and converges. After every step the invariants of `executor` are checked; at the end of
every schedule the machine converges and checks that every started join finished exactly once.

CI runs a fixed, derandomized set (FBA_FAULTS_EXAMPLES=5 schedules of FBA_FAULTS_STEPS=6
steps). Run longer and random with e.g.
    FBA_FAULTS_EXAMPLES=50 FBA_FAULTS_STEPS=10 FBA_FAULTS_RANDOM=1 .venv/bin/pytest \
        tests/integration/faults -p no:cacheprovider -s
A failing schedule is shrunk; the output shows the minimal one as JSON plus the commands that
replay it in processes and (where the steps map onto VM faults) in VMs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, Verbosity, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from .cluster import FBA, ProcessCluster
from .executor import FaultRun
from .schedule import FAILPOINT_ACTIONS, JOIN_FAILPOINTS, Op, Schedule, Step


@pytest.fixture(autouse=True)
def _fba_installed() -> None:
    """`scripts/setup.sh` installs `fba` into .venv; without it these tests must fail, not
    vanish from the run as skips."""
    if not Path(FBA).exists():
        pytest.fail(f"fba is not installed at {FBA}: run scripts/setup.sh (it installs fba into .venv)", pytrace=False)


EXAMPLES = int(os.environ.get("FBA_FAULTS_EXAMPLES", "5"))
STEPS = int(os.environ.get("FBA_FAULTS_STEPS", "6"))
RANDOM = os.environ.get("FBA_FAULTS_RANDOM", "") not in ("", "0")
VERBOSE = os.environ.get("FBA_FAULTS_VERBOSE", "") not in ("", "0")
SIZE = 6  # bootstrap nodes 1-3, joiners 4-6

failpoints = st.one_of(st.none(), st.sampled_from(JOIN_FAILPOINTS))
actions = st.sampled_from(FAILPOINT_ACTIONS)


def replay_commands(schedule_file: Path) -> str:
    return (
        f"replay in processes: .venv/bin/python -m tests.integration.faults replay {schedule_file}\n"
        f"replay in VMs:       .venv/bin/python -m tests.integration.faults to-vm {schedule_file} "
        f"--out {schedule_file.with_suffix('.vm.json')} && "
        f"flock /tmp/fba-vm.lock .venv/bin/cluster-test --replay {schedule_file.with_suffix('.vm.json')}"
    )


class JoinFaults(RuleBasedStateMachine):
    """One schedule = one fresh cluster in its own directory under `base`."""

    def __init__(self, base: Path) -> None:
        super().__init__()
        base.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="schedule-", dir=base))
        self.schedule_file = self.workdir / "schedule.json"
        self.run = FaultRun(
            ProcessCluster(self.workdir, SIZE), Schedule(size=SIZE), on_step=lambda s: s.save(self.schedule_file)
        )
        self.ok = False  # set at the end of each step; False at teardown = that step raised
        note(f"schedule and logs: {self.workdir}\n{replay_commands(self.schedule_file)}")
        self.run.bootstrap()
        self.ok = True

    def _step(self, step: Step) -> None:
        self.ok = False
        try:
            done = self.run.apply(step)
            event(f"{done.op.value}: {(done.outcome or '').split(' (')[0].split(' [')[0]}")
            if VERBOSE:
                print(f"  {done.describe():40s} -> {done.outcome} (hit {done.hit})")
        except AssertionError as err:
            self.run.schedule.failure = str(err)
            raise
        self.ok = True

    @precondition(lambda self: bool(self.run.not_started()))
    @rule(data=st.data(), failpoint=failpoints, action=actions)
    def join(self, data: st.DataObject, failpoint: str | None, action: str) -> None:
        node = data.draw(st.sampled_from(self.run.not_started()), label="node")
        self._step(Step(op=Op.JOIN, node=node, failpoint=failpoint, action=action))

    @precondition(lambda self: not self.run.down())
    @rule()
    def kill_leader(self) -> None:
        self._step(Step(op=Op.KILL_LEADER))

    @precondition(lambda self: not self.run.down())
    @rule()
    def pause_leader(self) -> None:
        self._step(Step(op=Op.PAUSE_LEADER))

    @precondition(lambda self: bool(self.run.cluster.paused))
    @rule()
    def resume(self) -> None:
        self._step(Step(op=Op.RESUME))

    @precondition(lambda self: bool(self.run.killed))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.run.killed)), label="node")
        self._step(Step(op=Op.RESTART, node=node))

    @precondition(lambda self: bool(self.run.started))
    @rule(data=st.data(), failpoint=failpoints, action=actions)
    def reboot(self, data: st.DataObject, failpoint: str | None, action: str) -> None:
        node = data.draw(st.sampled_from(sorted(self.run.started)), label="node")
        self._step(Step(op=Op.REBOOT, node=node, failpoint=failpoint, action=action))

    @precondition(lambda self: bool(self.run.failed_last()))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.run.failed_last()), label="node")
        self._step(Step(op=Op.RETRY, node=node))

    @precondition(lambda self: bool(self.run.started))
    @rule()
    def converge(self) -> None:
        self._step(Step(op=Op.CONVERGE))

    @invariant()
    def invariants_hold(self) -> None:
        self.ok = False
        try:
            self.run.check()
        except AssertionError as err:
            self.run.schedule.failure = f"after step {len(self.run.schedule.steps)}: {err}"
            raise
        self.ok = True

    def teardown(self) -> None:
        try:
            if self.ok and self.run.started:
                self.ok = False
                self.run.apply(Step(op=Op.CONVERGE))  # every schedule ends converged
                self.ok = True
        finally:
            self.run.close()
            if self.ok:
                shutil.rmtree(self.workdir, ignore_errors=True)
            else:
                self.run.schedule.save(self.schedule_file)
                print(f"\nfailing schedule: {self.schedule_file}\n{replay_commands(self.schedule_file)}")


def machine_factory(base: Path) -> Callable[[], JoinFaults]:
    return lambda: JoinFaults(base)


def test_join_under_fault_schedules(tmp_path: Path) -> None:
    run_state_machine_as_test(
        # hypothesis calls any zero-argument factory; its stub only names the class form
        cast("type[RuleBasedStateMachine]", machine_factory(tmp_path)),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not RANDOM,
            database=None,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.verbose if VERBOSE else Verbosity.normal,
        ),
    )
