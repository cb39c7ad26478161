"""The slowness factor: measured from the first boot's console, one formula for every wait
budget (base x factor, capped by the run deadline), and boot timeouts that explain themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from harness.cluster import pace
from harness.errors import HarnessError
from harness.machine.ssh import SshKey, SshSession
from harness.slowness import (
    MAX_FACTOR,
    REFERENCE_NETWORK_ONLINE_S,
    TCG_PRIOR_FACTOR,
    Slowness,
    last_step,
    wait_budget,
)
from harness.waits import MIN_ATTEMPT, WaitExpired
from tests.unit.harness.machine.fakes import FakeClock

READY = re.compile(r"FBA-READY \S+")
NET_LINE = "[   41.0] systemd[1]: Reached target network-online.target - Network is Online.\n"


def test_wait_budget_is_base_times_factor() -> None:
    assert wait_budget(120.0, 5.0, None, now=0.0) == 600.0


def test_wait_budget_never_passes_the_run_deadline() -> None:
    assert wait_budget(120.0, 5.0, deadline=1300.0, now=1000.0) == 300.0
    assert wait_budget(120.0, 5.0, deadline=900.0, now=1000.0) == 0.0


def test_factor_is_clamped_and_says_how_it_was_obtained() -> None:
    assert Slowness.measured(4.0, "node01").factor == 1.0  # faster than the design: not tighter
    assert Slowness.measured(1e6, "node01").factor == MAX_FACTOR
    slow = Slowness.measured(41.0, "node01")
    assert slow.factor == round(41.0 / REFERENCE_NETWORK_ONLINE_S, 2)
    assert slow.describe() == (
        "x5.12 (measured: node01 reached network-online.target 41.0 s after QEMU started (reference 8 s with KVM))"
    )
    assert Slowness.told(7.0).describe() == "x7 (told (--tcg-factor))"
    assert Slowness.assumed_tcg().factor == TCG_PRIOR_FACTOR


def test_last_step_strips_colours_and_finds_the_last_boot_step() -> None:
    console = (
        "[  OK  ] Started \x1b[0;1;39mssh.service\x1b[0m - OpenBSD Secure Shell server.\n"
        "         Starting fba-chainfire-join.service - Join chainfire...\n"
        "random kernel noise\n"
    )
    assert last_step(console) == "Starting fba-chainfire-join.service - Join chainfire..."
    assert last_step("nothing here") == ""


@dataclass
class BootingNode:
    """A node whose console grows as fake time passes: `lines` maps T+seconds to text."""

    clock: FakeClock
    lines: dict[float, str]
    name: str = "node01"
    started_at: float | None = field(default=None)

    def since_mark(self) -> str:
        assert self.started_at is not None
        now = self.clock() - self.started_at
        return "".join(text for t, text in sorted(self.lines.items()) if t <= now)

    def get_console_log(self) -> str:
        return self.since_mark()


def test_measure_times_network_online_from_qemu_start() -> None:
    clock = FakeClock()
    node = BootingNode(clock, {3.0: "Linux version 6.1\n", 41.0: NET_LINE, 90.0: "FBA-READY running\n"})
    node.started_at = clock()
    slow = pace.measure(node, node, READY, timeout=600.0, deadline_cap=None, clock=clock, sleep=clock.sleep)
    # Polled once a second: at most 1 s late.
    assert 41.0 / REFERENCE_NETWORK_ONLINE_S - 0.01 <= slow.factor <= 42.0 / REFERENCE_NETWORK_ONLINE_S + 0.01
    assert "node01 reached network-online.target" in slow.how


def test_measure_falls_back_to_the_ready_line() -> None:
    clock = FakeClock()
    node = BootingNode(clock, {96.0: "FBA-READY running\n"})
    node.started_at = clock()
    slow = pace.measure(node, node, READY, timeout=600.0, deadline_cap=None, clock=clock, sleep=clock.sleep)
    assert slow.factor == pytest.approx(96.0 / pace.REFERENCE_READY_S, abs=0.05)
    assert "the READY line" in slow.how


def test_measure_gives_up_within_its_budget_naming_the_last_boot_step() -> None:
    clock = FakeClock()
    node = BootingNode(clock, {5.0: "         Starting systemd-networkd.service - Network Configuration...\n"})
    node.started_at = clock()
    with pytest.raises(WaitExpired) as err:
        pace.measure(node, node, READY, timeout=100.0, deadline_cap=None, clock=clock, sleep=clock.sleep)
    assert clock() - node.started_at <= 100.0 + MIN_ATTEMPT
    assert "last boot step: Starting systemd-networkd.service" in str(err.value)


def test_measure_needs_a_started_node() -> None:
    clock = FakeClock()
    with pytest.raises(HarnessError, match="node01: .*not started|it was not started"):
        node = BootingNode(clock, {})
        pace.measure(node, node, READY, timeout=1.0, deadline_cap=None, clock=clock, sleep=clock.sleep)


def test_explain_says_the_factor_and_how_far_the_guest_got() -> None:
    err = WaitExpired("console text 'FBA-READY'", elapsed=600.0, budget=600.0, attempts=120, last=None)
    console = "         Starting fba-chainfire-join.service - Join chainfire...\n"
    text = str(pace.explain(err, "node01", console, Slowness.measured(40.0, "node01"), 120.0))
    assert "gave up after 600.0 s of a 600.0 s budget" in text
    assert "budget 120 s x factor x5 (measured: node01 reached network-online.target 40.0 s" in text
    assert "node01 got as far as: Starting fba-chainfire-join.service - Join chainfire..." in text


def test_ssh_connect_attempts_stay_within_the_time_they_are_handed() -> None:
    # TCP connect, banner and auth each had the whole step: one attempt could take 3x it.
    clock = FakeClock()
    steps: list[float] = []

    def refuse(_host: str, _port: int, timeout: float) -> object:
        steps.append(timeout)
        clock.now += timeout * 3  # a guest that lets every phase run to its timeout
        raise OSError("timed out")

    begin = clock()
    with pytest.raises(WaitExpired):
        SshSession.connect("10.0.0.1", 22, SshKey.generate(), timeout=60.0, sock_factory=refuse,  # type: ignore[arg-type]
                           clock=clock, sleep=clock.sleep)  # fmt: skip
    assert clock() - begin <= 60.0 + MIN_ATTEMPT
    assert max(steps) <= 10.0


def test_tcg_nodes_get_the_slow_raft_profile_and_scenarios_can_override() -> None:
    from pathlib import Path

    from harness.cluster.cluster import ClusterOptions, node_env
    from harness.machine.accel import Accel

    options = ClusterOptions(run_dir=Path("/nonexistent"), node_env={"node04": {"FBA_X": "1"}})
    assert node_env(options, "node01", Accel.TCG) == {"STANDIN_RAFT_PROFILE": "slow"}
    assert node_env(options, "node04", Accel.TCG) == {"STANDIN_RAFT_PROFILE": "slow", "FBA_X": "1"}
    assert node_env(options, "node01", Accel.KVM) == {}
