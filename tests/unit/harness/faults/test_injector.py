from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.faults.injector import Faults, validate_args
from harness.faults.recorder import FaultRecorder
from harness.network.ledger import cut, isolate, partition
from harness.network.nft import heal_script

from .fakes import FakeClock, FakeNet, FakeNode, FakeSink

NAMES = ("node01", "node02", "node03", "node04")


def make(answers: dict[str, str] | None = None) -> tuple[Faults, dict[str, FakeNode], FakeNet, FakeClock, FakeSink]:
    clock, sink, net = FakeClock(), FakeSink(), FakeNet(NAMES)
    nodes = {n: FakeNode(n, answers) for n in NAMES}
    return Faults(nodes, net, FaultRecorder(sink, clock=clock)), nodes, net, clock, sink


def test_partition_is_an_interval_and_heals_on_exit() -> None:
    faults, _nodes, net, clock, sink = make()
    with faults.partition([["node04"], ["node01", "node02", "node03"]]) as fault:
        clock.now += 12
        assert fault.active
    assert [why for why, _ in net.history] == ["add partition", "remove partition"]
    assert net.history[0][1].cuts == partition([["tap4"], ["tap1", "tap2", "tap3"]]).cuts
    assert net.scripts[-1] == heal_script() and net.entries == {}
    record = faults.recorder.records[0]
    assert (record.kind, record.label, record.start_s, record.end_s) == (
        "partition",
        "node04 | node01,node02,node03",
        0.0,
        12.0,
    )
    assert [e["phase"] for e in sink.events] == ["start", "stop"]


def test_stopping_one_network_fault_keeps_the_others_in_one_transaction() -> None:
    faults, _nodes, net, _clock, _sink = make()
    one_way = faults.cut("node01", ["node02"])
    iso = faults.isolate("node04")
    assert set(net.rules.cuts) == {c for e in (cut("tap1", "tap2"), isolate("tap4", ["tap1", "tap2", "tap3", "tap4"]))
                                   for c in e.cuts}  # fmt: skip
    net.scripts.clear()
    one_way.stop()
    expected = isolate("tap4", ["tap1", "tap2", "tap3", "tap4"]).cuts
    assert len(net.scripts) == 1 and net.rules.cuts == expected and not net.rules.blocked
    net.scripts.clear()
    iso.stop()
    assert net.scripts == [heal_script()]
    assert iso.stop().end_s is not None  # idempotent
    assert net.scripts == [heal_script()]


def test_unknown_nodes_are_refused_before_anything_happens() -> None:
    faults, _nodes, net, _clock, _sink = make()
    with pytest.raises(HarnessError, match="no node 'node09'"):
        faults.partition([["node09"], ["node01"]])
    assert net.scripts == [] and faults.recorder.records == []


def test_crash_restarts_on_stop_and_pause_resumes() -> None:
    faults, nodes, _net, _clock, _sink = make()
    crash = faults.crash("node01")
    crash.stop()
    pause = faults.pause("node02")
    pause.stop()
    faults.reboot("node03")
    off = faults.power_off("node04")
    off.stop()
    assert nodes["node01"].calls == ["crash", "start"]
    assert nodes["node02"].calls == ["qmp stop", "qmp cont"]
    assert nodes["node03"].calls == ["reboot"]
    assert nodes["node04"].calls == ["shutdown", "start"]
    reboot = faults.recorder.records[2]
    assert reboot.kind == "reboot" and reboot.end_s is not None


def test_hang_stops_the_main_pid_guards_it_and_continues_it() -> None:
    faults, nodes, _net, _clock, _sink = make({"MainPID": "4242\n"})
    hang = faults.hang_service("node04", "flaredb.service", max_s=90)
    calls = nodes["node04"].calls
    assert "kill -s STOP" in calls[0]
    assert "--on-active=90s" in calls[1] and "kill -s CONT 4242" in calls[1]
    hang.stop()
    assert calls[-1].startswith("kill -s CONT 4242")


def test_service_disk_clock_and_netem_commands_pair_with_their_undo() -> None:
    faults, nodes, _net, _clock, _sink = make()
    faults.stop_service("node04", "chainfire.service").stop()
    faults.fill_disk("node04").stop()
    faults.clock_skew("node04", 600).stop()
    faults.netem("node04", delay_ms=100).stop()
    calls = nodes["node04"].calls
    assert calls[0] == "systemctl stop chainfire.service" and calls[1] == "systemctl start chainfire.service"
    assert "fallocate" in calls[2] and calls[3] == "rm -f /var/lib/fba-fault-fill"
    assert "+ (600)" in calls[4] and "+ (-600)" in calls[5]
    assert "netem delay 100ms" in calls[6] and "tc qdisc del" in calls[7]
    assert all(not r.active for r in faults.recorder.records)


def test_a_failed_injection_is_recorded_with_its_error() -> None:
    faults, nodes, _net, _clock, _sink = make()
    nodes["node04"].fail_on = lambda c: "systemctl stop" in c
    with pytest.raises(RuntimeError):
        faults.stop_service("node04", "chainfire.service")
    record = faults.recorder.records[0]
    assert not record.active and record.error and "inject failed" in record.error


def test_arm_failpoints_writes_the_env_file_and_clears_the_fired_record() -> None:
    faults, nodes, _net, _clock, _sink = make({"cat /run/first-boot-automation/env": 'FBA_JOIN_MAX_ATTEMPTS="2"\n'})
    armed = faults.arm_failpoints("node04", {"join.after-add": "crash"})
    calls = nodes["node04"].calls
    assert calls[0].startswith("cat /run/first-boot-automation/env")
    assert "base64 -d > /run/first-boot-automation/env.fba-tmp" in calls[1]
    assert calls[2] == "rm -f /run/first-boot-automation/failpoints.fired"
    armed.stop()
    assert faults.recorder.records[0].label == "node04 join.after-add=crash"


def test_heal_all_stops_everything_newest_first() -> None:
    faults, nodes, net, _clock, _sink = make()
    faults.isolate("node01")
    faults.pause("node02")
    healed = faults.heal_all()
    assert [r.kind for r in healed] == ["pause", "isolate"]
    assert nodes["node02"].calls[-1] == "qmp cont" and net.scripts[-1] == heal_script() and net.rules.empty


def test_apply_by_name_and_argument_checks() -> None:
    faults, nodes, _net, _clock, _sink = make()
    faults.apply("kill_service", {"node": "node01", "unit": "iam.service"})
    assert "kill -s KILL" in nodes["node01"].calls[0]
    assert validate_args("failpoints", {"node": "node01", "failpoints": "join.after-add=crash"}) == "arm_failpoints"
    with pytest.raises(HarnessError, match="unknown fault 'meteor'"):
        validate_args("meteor", {})
    with pytest.raises(HarnessError, match="parameters: node, delay_ms"):
        validate_args("netem", {"node": "node01", "latency": 5})
