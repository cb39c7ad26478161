"""Progress from recorded console snippets and event sequences, with a fake clock: the phase
lines, the non-terminal format, no repeated lines, and the unit budgets."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.progress.console_phases import boot_segment, phases_reached, unit_lines
from harness.progress.follow import RunFollower
from harness.progress.render import LineSink, progress_table
from harness.progress.reporter import Reporter
from harness.progress.tracker import Tracker

T0 = 1_800_000_000.0  # the fake clock's QEMU start, seconds since the epoch

# Recorded from a TCG boot (reports/fba-startup-guest-*/nodes/node01/console.log), shortened;
# colour codes and the "…" of systemd's shortened names as the console has them.
KERNEL = (
    "[    0.000000] Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP\r\n"
    "[    0.000000] Command line: console=ttyS0 panic=-1 rootfstype=ramfs\r\n"
)
INITRD = "[    1.225610] Trying to unpack rootfs image as initramfs...\r\n"
SYSTEMD = (
    "[    2.880032] Run /init as init process\r\n"
    "[    5.401020] systemd[1]: systemd 252.39-1~deb12u2 running in system mode (+PAM +AUDIT)\r\n"
)
ONLINE = (
    "[\x1b[0;32m  OK  \x1b[0m] Finished \x1b[0;1;39msystemd-networkd-…Wait for Network to be Configured.\r\r\n"
    "[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mnetwork-online.target\x1b[0m - Network is Online.\r\r\n"
)
CHAINFIRE_STARTING = "         Starting \x1b[0;1;39mchainfire-cluster…p or join the chainfire cluster...\r\r\n"
CHAINFIRE_FAILED = (
    "[\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39mchainfire-cluster…p or join the chainfire cluster.\r\r\n"
)
READY_DEGRADED = "\r\nFBA-READY degraded host=node02 boot=1 varlib=disk failed=chainfire-cluster-join.service\r\n"
READY_RUNNING = "\r\nFBA-READY running host=node02 boot=1 varlib=disk failed=-\r\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def wall(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def start_event(node: str, console: Path, at: float = T0) -> dict[str, Any]:
    argv = f"qemu-system-x86_64 -name {node} -chardev socket,id=ser0,logfile={console},logappend=on"
    return {"t": 0.1, "wall": wall(at), "kind": "step_start", "node": node, "msg": "starting vm", "argv": argv}


def lab(tmp_path: Path, *, bootstrap: bool = False) -> tuple[Path, Path]:
    """A run directory with one cluster `join` whose node02 has a console file."""
    cluster = tmp_path / "join"
    (cluster / "nodes" / "node02").mkdir(parents=True)
    described = {"nodes": {"node02": {"ip": "10.77.0.12", "bootstrap": bootstrap}}}
    (cluster / "cluster.json").write_text(json.dumps(described))
    return tmp_path, cluster / "nodes" / "node02" / "console.log"


def lines_of(changes: list[Any]) -> list[str]:
    return [c.line() for c in changes]


def test_console_phases_in_boot_order() -> None:
    segment = KERNEL + INITRD + SYSTEMD + ONLINE
    assert phases_reached(segment) == ["kernel", "initrd", "systemd", "network-online"]
    assert phases_reached(KERNEL) == ["kernel"]


def test_shortened_unit_names_are_recognised_and_other_units_are_not() -> None:
    found = unit_lines(ONLINE + CHAINFIRE_STARTING + CHAINFIRE_FAILED)
    assert [(u.unit, u.state) for u in found] == [
        ("chainfire-cluster-join.service", "starting"),
        ("chainfire-cluster-join.service", "failed"),
    ]


def test_boot_segment_is_the_nth_boot_of_an_appended_log() -> None:
    text = KERNEL + SYSTEMD + READY_RUNNING + KERNEL + INITRD
    second = boot_segment(text, 2)
    assert second is not None and "FBA-READY" not in second and "initramfs" in second
    assert boot_segment(text, 3) is None  # QEMU runs, the kernel has not printed yet


def test_phase_lines_one_per_change_never_repeated(tmp_path: Path) -> None:
    run_dir, console = lab(tmp_path)
    clock = FakeClock()
    tracker = Tracker(clock, run_dir=run_dir)
    out = lines_of(tracker.event(start_event("node02", console)))
    key = str(console)
    text = ""
    for at, chunk in ((1.5, KERNEL), (3.0, INITRD), (9.25, SYSTEMD), (41.2, ONLINE)):
        clock.now, text = T0 + at, text + chunk
        out += lines_of(tracker.console(key, text))
        out += lines_of(tracker.console(key, text))  # the same text again: nothing new
    assert out == [
        "join/node02: QEMU started (boot 1)",
        "join/node02: qemu -> kernel (1.5 s)",
        "join/node02: kernel -> initrd (3.0 s)",
        "join/node02: initrd -> systemd (9.2 s)",
        "join/node02: systemd -> network-online (41.2 s)",
    ]


def test_units_against_the_scaled_budget_and_a_restart(tmp_path: Path) -> None:
    run_dir, console = lab(tmp_path, bootstrap=False)
    clock = FakeClock()
    tracker = Tracker(clock, run_dir=run_dir)
    tracker.event({"kind": "accel", "node": None, "msg": "ACCEL: TCG", "accel": "tcg", "wall": wall(T0)})
    tracker.event(start_event("node02", console))
    tracker.event({"kind": "slowness", "node": None, "msg": "x10", "factor": 10.0, "wall": wall(T0)})
    key = str(console)
    clock.now = T0 + 10.0
    text = KERNEL + INITRD + SYSTEMD  # systemd seen at T0+10: T+ counts from here
    tracker.console(key, text)
    out: list[str] = []
    # Joining node: chainfire's budget is T+25 s x10 (automation/spec/units.py).
    for at, chunk in ((40.0, ONLINE + CHAINFIRE_STARTING), (100.0, CHAINFIRE_FAILED),
                      (120.0, CHAINFIRE_STARTING), (300.0, READY_DEGRADED)):  # fmt: skip
        clock.now, text = T0 + at, text + chunk
        out += lines_of(tracker.console(key, text))
    assert out[:4] == [
        "join/node02: systemd -> network-online (40.0 s)",
        "join/node02: chainfire-cluster-join.service started at T+30.0 s (budget T+250.0 s)",
        "join/node02: chainfire-cluster-join.service failed at T+90.0 s (budget T+250.0 s)",
        "join/node02: chainfire-cluster-join.service restarted (start 2) at T+110.0 s (budget T+250.0 s)",
    ]
    # Told only by the READY line: an upper bound, so past the budget it is not called over it.
    told = ("join/node02: chainfire-cluster-join.service failed by T+290.0 s "
            "(budget T+250.0 s; its exact end: the timeline check)")  # fmt: skip
    assert told in out
    assert "join/node02: flaredb-cluster-join.service finished by T+290.0 s (budget T+350.0 s)" in out
    assert out[-1] == "join/node02: network-online -> degraded (300.0 s)"
    assert len(out) == len(set(out))


def test_a_second_boot_starts_over_and_a_stop_is_one_line(tmp_path: Path) -> None:
    run_dir, console = lab(tmp_path)
    clock = FakeClock()
    tracker = Tracker(clock, run_dir=run_dir)
    key = str(console)
    tracker.event(start_event("node02", console))
    first = KERNEL + SYSTEMD + READY_RUNNING
    tracker.console(key, first)
    stop = {"kind": "step_start", "node": "node02", "msg": "crashing (QEMU quit)", "wall": wall(T0 + 50)}
    clock.now = T0 + 50
    assert lines_of(tracker.event(stop)) == ["join/node02: ready -> stopped (50.0 s)"]
    assert tracker.event(stop) == []
    clock.now = T0 + 60
    out = lines_of(tracker.event(start_event("node02", console, at=T0 + 60)))
    out += lines_of(tracker.console(key, first))  # the old boot's lines count for nothing
    clock.now = T0 + 62
    out += lines_of(tracker.console(key, first + KERNEL))
    assert out == ["join/node02: QEMU started (boot 2)", "join/node02: qemu -> kernel (2.0 s)"]


def test_follower_reads_growing_files_and_the_sink_writes_plain_lines(tmp_path: Path) -> None:
    """The non-terminal output end to end: files written as a run writes them, read by the
    reporter's poll, one flushed line per change, nothing on a poll that found nothing."""
    run_dir, console = lab(tmp_path)
    (run_dir / "events.jsonl").write_text("")
    clock = FakeClock()
    out = io.StringIO()
    reporter = Reporter(run_dir, LineSink(out), clock=clock)
    with (run_dir / "events.jsonl").open("a") as events:
        line = json.dumps(start_event("node02", console))
        events.write(line[:20])  # a torn line: not yet an event
        events.flush()
        reporter.step()
        assert out.getvalue() == ""
        events.write(line[20:] + "\n")
    reporter.step()
    clock.now = T0 + 2.0
    console.write_text(KERNEL)
    reporter.step()
    reporter.step()
    clock.now = T0 + 41.0
    console.write_text(KERNEL + INITRD + SYSTEMD + ONLINE)
    reporter.step()
    reporter.finish()
    assert out.getvalue().splitlines() == [
        "join/node02: QEMU started (boot 1)",
        "join/node02: qemu -> kernel (2.0 s)",
        "join/node02: kernel -> initrd (41.0 s)",
        "join/node02: initrd -> systemd (41.0 s)",
        "join/node02: systemd -> network-online (41.0 s)",
    ]


def test_an_earlier_run_in_a_reused_report_dir_is_skipped(tmp_path: Path) -> None:
    run_dir, console = lab(tmp_path)
    (run_dir / "events.jsonl").write_text(json.dumps(start_event("node02", console)) + "\n")
    console.write_text(KERNEL + SYSTEMD + READY_RUNNING)
    tracker = Tracker(FakeClock(), run_dir=run_dir)
    follower = RunFollower(run_dir, tracker)
    assert follower.poll() == []
    with (run_dir / "events.jsonl").open("a") as events:
        events.write(json.dumps(start_event("node02", console)) + "\n")
    assert lines_of(follower.poll()) == ["join/node02: QEMU started (boot 1)"]


def test_driver_run_nodes_are_named_without_a_cluster_dir(tmp_path: Path) -> None:
    console = tmp_path / "nodes" / "node01" / "console.log"
    tracker = Tracker(FakeClock(), run_dir=tmp_path)
    assert lines_of(tracker.event(start_event("node01", console))) == ["node01: QEMU started (boot 1)"]


def test_live_table_shows_phase_and_unit_budget(tmp_path: Path) -> None:
    from rich.console import Console

    run_dir, console = lab(tmp_path, bootstrap=True)
    clock = FakeClock()
    tracker = Tracker(clock, run_dir=run_dir)
    tracker.event(start_event("node02", console))
    clock.now = T0 + 5.0
    tracker.console(str(console), KERNEL + SYSTEMD)
    clock.now = T0 + 20.0
    tracker.console(str(console), KERNEL + SYSTEMD + ONLINE + CHAINFIRE_STARTING)
    screen = Console(file=io.StringIO(), width=120, color_system=None)
    screen.print(progress_table(tracker.nodes.values(), T0 + 23.0))
    shown = screen.file.getvalue()  # type: ignore[attr-defined]
    assert "join/node02" in shown and "network-online" in shown
    # Bootstrap budget T+15 s (x1: no accel event yet): started at T+15, now T+18.
    assert "chainfire-cluster-join.service: starting T+18 s / T+15 s" in shown
    assert "flaredb-cluster-join.service: waiting" in shown


def test_over_budget_only_when_the_end_was_seen_not_when_ready_told_it() -> None:
    from harness.progress.render import _unit_cell
    from harness.progress.tracker import NodeProgress, UnitProgress, t_plus

    node = NodeProgress("node01", None, 1, 0.0, phase_at=0.0)
    node.reached["systemd"] = 0.0
    seen = UnitProgress("chainfire-cluster-join.service", state="done", ended_at=101.0, budget_s=84.6)
    told = UnitProgress("chainfire-cluster-join.service", state="done", ended_at=101.0, budget_s=84.6,
                        end_is_bound=True)  # fmt: skip
    assert t_plus(node, seen, 101.0).endswith("(budget T+84.6 s) OVER BUDGET")
    assert "OVER" not in t_plus(node, told, 101.0, bound=True)
    assert t_plus(node, told, 50.0, bound=True) == "T+50.0 s (budget T+84.6 s)"
    assert _unit_cell(node, seen, 200.0).style == "red"
    assert _unit_cell(node, told, 200.0).style == "green"
