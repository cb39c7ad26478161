from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.faults.injector import Faults
from harness.faults.recorder import FaultRecorder
from harness.faults.runner import run_plan
from harness.faults.schedule import parse_schedule

from .fakes import FakeClock, FakeNet, FakeNode

NAMES = ("node01", "node02", "node03", "node04")


def setup() -> tuple[Faults, dict[str, FakeNode], FakeNet, FakeClock]:
    clock, net = FakeClock(), FakeNet(NAMES)
    nodes = {n: FakeNode(n) for n in NAMES}
    return Faults(nodes, net, FaultRecorder(None, clock=clock)), nodes, net, clock


def plan_of(steps: list[dict[str, Any]], seed: int = 0) -> Any:
    return parse_schedule(json.dumps({"name": "t", "seed": seed, "steps": steps})).plan(nodes=NAMES)


def test_steps_start_and_stop_on_time_and_the_rest_heals_at_the_end() -> None:
    faults, nodes, net, clock = setup()
    plan = plan_of(
        [
            {"at_s": 10, "fault": "pause", "args": {"node": "node01"}, "duration_s": 5},
            {"at_s": 2, "fault": "isolate", "args": {"node": "node04"}},
            {"at_s": 12, "fault": "reboot", "args": {"node": "node03"}},
        ]
    )
    outcomes = run_plan(faults, plan, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [2.0, 8.0, 2.0, 3.0]
    assert nodes["node01"].calls == ["qmp stop", "qmp cont"] and nodes["node03"].calls == ["reboot"]
    assert net.rules.empty and net.entries == {}  # isolate had no duration: healed at the end
    assert [why for why, _ in net.history] == ["add isolate", "remove isolate"]
    by_fault = {o.fault: o for o in outcomes}
    assert by_fault["pause"].started_s == 10 and by_fault["pause"].stopped_s == 15
    assert by_fault["isolate"].stopped_s == 15
    assert [(r.kind, r.start_s, r.end_s) for r in faults.recorder.records] == [
        ("isolate", 2.0, 15.0),
        ("pause", 10.0, 15.0),
        ("reboot", 12.0, 12.0),
    ]


def test_a_slow_step_makes_later_ones_late_not_skipped() -> None:
    faults, nodes, _net, clock = setup()
    nodes["node01"].reboot = lambda: setattr(clock, "now", clock.now + 30)  # type: ignore[method-assign]
    plan = plan_of(
        [
            {"at_s": 0, "fault": "reboot", "args": {"node": "node01"}},
            {"at_s": 5, "fault": "crash", "args": {"node": "node02"}, "duration_s": 1},
        ]
    )
    outcomes = run_plan(faults, plan, clock=clock, sleep=clock.sleep)
    assert outcomes[1].late_s == 25 and nodes["node02"].calls == ["crash", "start"]


def test_an_error_mid_plan_still_heals_what_is_active() -> None:
    faults, nodes, net, clock = setup()

    class Boom(Faults):
        def apply(self, fault: str, args: Mapping[str, Any]) -> Any:
            if fault == "crash":
                raise RuntimeError("qemu gone")
            return super().apply(fault, args)

    boom = Boom(faults.nodes, net, faults.recorder)
    plan = plan_of(
        [
            {"at_s": 0, "fault": "partition", "args": {"groups": [["node01"], ["node02", "node03"]]}},
            {"at_s": 1, "fault": "crash", "args": {"node": "node02"}},
        ]
    )
    with pytest.raises(RuntimeError, match="qemu gone"):
        run_plan(boom, plan, clock=clock, sleep=clock.sleep)
    assert net.rules.empty and net.entries == {}


def test_heal_errors_at_the_end_are_reported() -> None:
    faults, nodes, _net, clock = setup()
    nodes["node01"].fail_on = lambda c: "systemctl start" in c
    plan = plan_of([{"at_s": 0, "fault": "stop_service", "args": {"node": "node01", "unit": "iam.service"}}])
    with pytest.raises(HarnessError, match="healing at the end failed"):
        run_plan(faults, plan, clock=clock, sleep=clock.sleep)
