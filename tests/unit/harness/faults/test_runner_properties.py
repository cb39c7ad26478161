"""Properties of `run_plan` over generated plans: every step starts once, never early, in
time order; every lasting fault is healed exactly once, never before its end; a failing
step heals what is active and starts nothing more. A fake applier and a fake clock, so the
schedules run in microseconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.faults.runner import run_plan
from harness.faults.schedule import Plan, PlannedStep

from .fakes import FakeClock

START = 100.0  # FakeClock's epoch: plan times are relative to it


class ApplyFailed(Exception):
    pass


@dataclass
class Lasting:
    index: int
    log: list[tuple[str, int, float]]
    clock: FakeClock

    def stop(self) -> None:
        self.log.append(("stop", self.index, self.clock.now - START))


@dataclass
class FakeApplier:
    """Applies fault `f<index>`: takes `cost[index]` seconds, lasts if `lasting[index]`."""

    clock: FakeClock
    lasting: Mapping[int, bool]
    cost: Mapping[int, float]
    fail_at: int | None = None
    log: list[tuple[str, int, float]] = field(default_factory=list)

    def apply(self, fault: str, args: Mapping[str, Any]) -> Any:
        index = int(fault.removeprefix("f"))
        self.log.append(("apply", index, self.clock.now - START))
        self.clock.now += self.cost[index]
        if index == self.fail_at:
            raise ApplyFailed(fault)
        return Lasting(index, self.log, self.clock) if self.lasting[index] else None


@st.composite
def plans(draw: st.DrawFn) -> tuple[Plan, dict[int, bool], dict[int, float]]:
    count = draw(st.integers(min_value=1, max_value=8))
    steps, lasting, cost = [], {}, {}
    for index in range(count):
        at = draw(st.integers(min_value=0, max_value=60)) / 2
        duration = draw(st.none() | st.integers(min_value=1, max_value=40).map(lambda d: d / 2))
        steps.append(PlannedStep(index=index, at_s=at, fault=f"f{index}", args={}, duration_s=duration))
        lasting[index] = draw(st.booleans())
        cost[index] = draw(st.sampled_from([0.0, 0.0, 0.5, 7.0]))  # some steps are slow (a reboot)
    return Plan(name="prop", seed=0, steps=tuple(steps)), lasting, cost


def _events(log: list[tuple[str, int, float]], kind: str) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for what, index, at in log:
        if what == kind:
            out.setdefault(index, []).append(at)
    return out


@settings(max_examples=300, deadline=None)
@given(plans())
def test_every_step_starts_once_on_time_and_every_lasting_fault_heals_once(
    drawn: tuple[Plan, dict[int, bool], dict[int, float]],
) -> None:
    plan, lasting, cost = drawn
    clock = FakeClock(now=START)
    applier = FakeApplier(clock, lasting, cost)
    outcomes = run_plan(applier, plan, clock=clock, sleep=clock.sleep)
    applied, stopped = _events(applier.log, "apply"), _events(applier.log, "stop")
    by_index = {s.index: s for s in plan.steps}
    assert sorted(applied) == sorted(by_index) and all(len(t) == 1 for t in applied.values())
    starts = [at for what, _i, at in applier.log if what == "apply"]
    assert starts == sorted(starts)  # in time order, whatever the plan's order
    for index, (at,) in applied.items():
        assert at >= by_index[index].at_s  # never early
    assert sorted(stopped) == sorted(i for i, lasts in lasting.items() if lasts)
    last_start = max(starts)
    for index, times in stopped.items():
        assert len(times) == 1
        (at,) = times
        step = by_index[index]
        assert at >= applied[index][0] + cost[index]
        if step.end_s is not None:
            assert at >= step.end_s  # never healed early
        else:
            assert at >= last_start  # open-ended faults heal when the plan ends
    assert [o.index for o in outcomes] == sorted(by_index)
    for outcome in outcomes:
        assert outcome.late_s >= 0 and outcome.started_s >= outcome.planned_s - 1e-9
        assert (outcome.stopped_s is not None) == lasting[outcome.index]


@settings(max_examples=300, deadline=None)
@given(plans(), st.data())
def test_a_failing_step_heals_what_is_active_and_starts_nothing_more(
    drawn: tuple[Plan, dict[int, bool], dict[int, float]], data: st.DataObject
) -> None:
    plan, lasting, cost = drawn
    fail_at = data.draw(st.sampled_from([s.index for s in plan.steps]))
    clock = FakeClock(now=START)
    applier = FakeApplier(clock, lasting, cost, fail_at=fail_at)
    with pytest.raises(ApplyFailed):
        run_plan(applier, plan, clock=clock, sleep=clock.sleep)
    kinds = [(what, index) for what, index, _at in applier.log]
    assert kinds.index(("apply", fail_at)) == max(i for i, k in enumerate(kinds) if k[0] == "apply")
    applied, stopped = _events(applier.log, "apply"), _events(applier.log, "stop")
    active_before = {i for i in applied if i != fail_at and lasting[i]}
    assert set(stopped) == active_before and all(len(t) == 1 for t in stopped.values())
