"""Every scenario helper that takes a timeout ends within it plus one poll, however slow the
guest: each command inside an attempt is capped by what is left (fake clock, fake guests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from automation.spec.markers import Service
from harness.cluster import operational
from harness.errors import CommandFailed, CommandTimeout, WaitTimeout
from harness.scenarios import probes
from harness.waits import MIN_ATTEMPT, WaitExpired
from tests.unit.harness.machine.fakes import FakeClock

ONE_POLL = MIN_ATTEMPT  # the last look may start just before the deadline; sleeps never pass it

Reply = Callable[[str], tuple[int, str]]


@dataclass
class SlowGuest:
    """A guest whose every command takes `cost` s of fake time; one that would take longer
    than its timeout eats all of it and raises `CommandTimeout`, as `Node.execute` does."""

    name: str
    clock: FakeClock
    cost: float
    reply: Reply = lambda _cmd: (1, "")
    calls: list[tuple[str, float]] = field(default_factory=list)

    def execute(self, command: str, check_return: bool = True, check_output: bool = True,
                timeout: float | None = 900) -> tuple[int, str]:  # fmt: skip
        budget = 900.0 if timeout is None else float(timeout)
        self.calls.append((command, budget))
        if self.cost > budget:
            self.clock.now += budget
            raise CommandTimeout(f"{command!r} on {self.name} still running after {budget:.1f} s")
        self.clock.now += self.cost
        return self.reply(command)

    def succeed(self, *commands: str, timeout: float | None = None) -> str:
        rc, out = self.execute("; ".join(commands), timeout=timeout)
        if rc != 0:
            raise CommandFailed(f"{commands} exited {rc}")
        return out


def no_leader(_cmd: str) -> tuple[int, str]:
    return 0, json.dumps({"leader": None, "has_quorum": False, "members": []})


def ends_in_time(clock: FakeClock, budget: float, run: Callable[[], object]) -> float:
    begin = clock()
    with pytest.raises(WaitTimeout):
        run()
    took = clock() - begin
    assert took <= budget + ONE_POLL, f"took {took:.1f} s of a {budget:.1f} s budget"
    return took


@pytest.mark.parametrize("cost", [25.0, 1000.0], ids=["slow-answers", "hung"])
def test_wait_leader_ends_within_budget_plus_one_poll(cost: float) -> None:
    # The S7 wait gave up after 260 s of its 240 s: three sequential 30 s looks per attempt.
    clock = FakeClock()
    nodes = {n: SlowGuest(n, clock, cost, no_leader) for n in ("node01", "node02", "node03")}
    budget = 240.0
    ends_in_time(clock, budget, lambda: probes.wait_leader(
        nodes, Service.CHAINFIRE, list(nodes), budget, clock=clock, sleep=clock.sleep))  # fmt: skip
    assert all(t <= probes.COMMAND_CAP for g in nodes.values() for _, t in g.calls)


def test_wait_leader_says_what_each_node_named() -> None:
    clock = FakeClock()
    nodes = {n: SlowGuest(n, clock, 1.0, no_leader) for n in ("node01", "node02")}
    with pytest.raises(WaitExpired) as err:
        probes.wait_leader(nodes, Service.CHAINFIRE, list(nodes), 20.0, clock=clock, sleep=clock.sleep)
    assert 'last state: {"node01": [null, false], "node02": [null, ' in str(err.value)


def test_wait_leader_returns_the_agreed_view() -> None:
    clock = FakeClock()
    view = {"leader": {"id": "node01"}, "has_quorum": True, "members": [{"id": "node01"}]}
    nodes = {n: SlowGuest(n, clock, 1.0, lambda _c: (0, json.dumps(view))) for n in ("node01", "node02")}
    assert probes.wait_leader(nodes, Service.CHAINFIRE, list(nodes), 20.0, clock=clock, sleep=clock.sleep) == view


@pytest.mark.parametrize("cost", [20.0, 1000.0], ids=["slow-answers", "hung"])
def test_wait_exit_ends_within_budget_plus_one_poll(cost: float) -> None:
    clock = FakeClock()
    guest = SlowGuest("node04", clock, cost, lambda _c: (0, "ActiveState=activating\nExecMainStatus=0\n"))
    ends_in_time(clock, 100.0, lambda: probes.wait_exit(guest, "x.service", 0, 100.0, clock=clock, sleep=clock.sleep))


@pytest.mark.parametrize("cost", [50.0, 1000.0], ids=["slow-answers", "hung"])
def test_wait_fired_ends_within_budget_plus_one_poll(cost: float) -> None:
    clock = FakeClock()
    guest = SlowGuest("node04", clock, cost, lambda _c: (0, ""))
    ends_in_time(clock, 150.0, lambda: probes.wait_fired(
        guest, "x.service", "join.after-add", 150.0, clock=clock, sleep=clock.sleep))  # fmt: skip


@pytest.mark.parametrize("cost", [100.0, 1000.0], ids=["slow-answers", "hung"])
def test_wait_healthy_ends_within_budget_plus_one_poll(cost: float) -> None:
    clock = FakeClock()
    guest = SlowGuest("node01", clock, cost, lambda _c: (1, '{"message": "Cluster degraded"}'))
    ends_in_time(clock, 300.0, lambda: probes.wait_healthy(guest, 300.0, clock=clock, sleep=clock.sleep))


@dataclass
class UntilGuest:
    """`wait_until_succeeds` records the timeout it was handed (Node's own wait honours it)."""

    name: str = "node03"
    timeouts: list[float] = field(default_factory=list)

    def wait_until_succeeds(self, command: str, timeout: float) -> str:
        self.timeouts.append(timeout)
        return ""


def test_wait_ssh_hands_its_whole_budget_to_the_node_wait() -> None:
    guest = UntilGuest()
    probes.wait_ssh(guest, 123.0)
    assert guest.timeouts == [123.0]


@pytest.mark.parametrize("cost", [59.0, 1000.0], ids=["slow-answers", "hung"])
def test_join_faults_wait_run_ends_within_budget_plus_one_poll(cost: float, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    guest = SlowGuest("node04", clock, cost, lambda _c: (0, "SubState=running\nInvocationID=a\n"))
    # wait_run uses the real clock; point the wait machinery at the fake one.
    import harness.waits as waits

    real = waits.wait_until
    monkeypatch.setattr(
        "harness.scenarios.probes.wait_until",
        lambda *a, **k: real(*a, **{**k, "clock": clock, "sleep": clock.sleep}),
    )
    ends_in_time(clock, 240.0, lambda: probes.wait_run(guest, "x.service", status=1, timeout=240.0))  # type: ignore[arg-type]


@dataclass
class BudgetCluster:
    """A cluster whose `budget(base)` is base x 5 (a measured factor) and nodes are fakes."""

    clock: FakeClock
    nodes: dict[str, Any]

    def budget(self, base: float) -> float:
        return base * 5

    def __getitem__(self, name: str) -> Any:
        return self.nodes[name]


def test_wait_operational_shares_one_budget_between_the_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    done = json.dumps({"status": "done"})
    nodes = {n: SlowGuest(n, clock, 400.0, lambda _c: (0, done)) for n in ("node01", "node02", "node03")}
    monkeypatch.setattr(operational.time, "monotonic", clock)
    cluster = BudgetCluster(clock, nodes)
    begin = clock()
    with pytest.raises(WaitTimeout):
        operational.wait_operational(cluster, list(nodes), base=120.0)  # type: ignore[arg-type]
    assert clock() - begin <= 600.0 + ONE_POLL
    first_cmd, first_timeout = nodes["node01"].calls[0]
    assert first_timeout == 600.0 and "--timeout 590" in first_cmd
    assert nodes["node02"].calls[0][1] == 200.0  # what node01 left
