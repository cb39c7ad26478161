"""The process -> VM schedule conversion yields files the VM harness accepts."""

from __future__ import annotations

import json
from pathlib import Path

from harness.faults import parse_schedule

from .__main__ import main
from .schedule import Op, Schedule, Step


def _schedule() -> Schedule:
    return Schedule(
        size=6,
        steps=[
            Step(op=Op.JOIN, node=4, failpoint="join.after-add", action="crash", outcome="started"),
            Step(op=Op.PAUSE_LEADER, hit=2, outcome="paused"),
            Step(op=Op.RESUME, hit=2, outcome="resumed [2]"),
            Step(op=Op.KILL_LEADER, hit=1, outcome="killed"),
            Step(op=Op.JOIN, node=5, outcome="started"),
            Step(op=Op.REBOOT, node=4, failpoint="join.after-verify", action="exit:1", outcome="rebooted"),
            Step(op=Op.RETRY, node=4, outcome="retried after rc 1"),
            Step(op=Op.CONVERGE, outcome="converged"),
        ],
        failure="I3: example",
    )


def test_converted_schedule_validates_and_plans(tmp_path: Path) -> None:
    src = _schedule().save(tmp_path / "schedule.json")
    out = tmp_path / "schedule.vm.json"
    assert main(["to-vm", str(src), "--out", str(out)]) == 0
    vm = parse_schedule(out.read_text(), source=str(out))
    assert vm.topology.join_nodes == 2
    plan = vm.plan(nodes=[f"node{n:02d}" for n in range(1, 6)])
    faults = [(s.fault, dict(s.args).get("node"), s.duration_s) for s in plan.steps]
    assert ("hang_service", "node02", 20.0) in faults
    assert ("crash", "node01", 80.0) in faults  # healed at converge
    assert [f for f, *_ in faults].count("reboot") == 1
    assert "failpoints" in [f for f, *_ in faults]
    assert "join.after-add=crash" in vm.description and "I3: example" in vm.description


def test_schedule_round_trips_and_rejects_other_formats(tmp_path: Path) -> None:
    path = _schedule().save(tmp_path / "s.json")
    assert Schedule.load(path) == _schedule()
    other = tmp_path / "vm.json"
    other.write_text(json.dumps({"name": "x", "steps": []}))
    assert main(["replay", str(other)]) == 2
