"""`fba status` from markers and (faked) systemd; never blocks past its deadline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from automation.markers import MarkerStore
from automation.policy import Clock, Deadline
from automation.spec.exitcodes import ExitCode
from automation.status import StepState, collect, run_status
from automation.systemd import Systemd


def fake_systemd(units: dict[str, dict[str, str]], journal: dict[str, list[str]] | None = None) -> Systemd:
    def runner(argv: Sequence[str]) -> str | None:
        if argv[0] == "systemctl" and argv[1] == "show":  # one or more units, as systemctl prints them
            names = [a for a in argv[2:] if a.endswith(".service")]
            return "\n".join("".join(f"{k}={v}\n" for k, v in {"Id": n, **units.get(n, {})}.items()) for n in names)
        if argv[0] == "journalctl":
            return "\n".join((journal or {}).get(argv[-1], []))
        return ""

    return Systemd(runner=runner)


def test_done_failed_pending(tmp_path: Path) -> None:
    markers = MarkerStore(tmp_path)
    markers.write(".chainfire-initialized")
    error = json.dumps(
        {"level": "ERROR", "message": "Health check timeout", "context": {"cause": "health check timeout"}}
    )
    systemd = fake_systemd(
        {"flaredb-cluster-join.service": {"ActiveState": "failed", "Result": "exit-code"}},
        {"flaredb-cluster-join.service": ["not json", error]},
    )
    steps = collect(markers, systemd)
    assert [s.state for s in steps] == [StepState.DONE, StepState.FAILED, StepState.PENDING, StepState.PENDING]
    assert steps[1].cause == "health check timeout"


def test_wait_returns_at_deadline_when_units_never_ran(tmp_path: Path) -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    lines: list[str] = []
    code = run_status(
        MarkerStore(tmp_path),
        fake_systemd({}),
        wait=True,
        deadline=Deadline.start(5, Clock(monotonic=lambda: now[0], sleep=sleep)),
        emit=lines.append,
        fmt="json",
    )
    assert code is ExitCode.NOT_FINISHED
    assert now[0] <= 5.0
    assert json.loads(lines[0])["status"] == "not-finished"


def test_all_done(tmp_path: Path) -> None:
    markers = MarkerStore(tmp_path)
    for name in (".chainfire-joined", ".flaredb-joined", ".iam-initialized"):
        markers.write(name)
    systemd = fake_systemd(
        {"cluster-health-check.service": {"Result": "success", "ExecMainExitTimestamp": "Tue 2026-11-24 10:00:00 UTC"}}
    )
    lines: list[str] = []
    code = run_status(markers, systemd, wait=False, deadline=Deadline.start(1), emit=lines.append, fmt="text")
    assert code is ExitCode.OK
    assert lines[0].startswith("first-boot: done")


def test_systemctl_and_journalctl_share_the_status_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung `systemctl` cannot stretch `status --wait`: each command gets the time left."""
    import automation.status as status_module

    now = [0.0]
    deadline = Deadline.start(7.0, Clock(monotonic=lambda: now[0], sleep=lambda s: None))
    timeouts: list[float] = []

    def runner(argv: Sequence[str], timeout: float = 5.0) -> str | None:
        timeouts.append(timeout)
        return None

    monkeypatch.setattr(status_module, "run_command", runner)
    systemd = status_module.bounded_systemd(deadline)
    systemd.unit("chainfire-cluster-join.service")
    now[0] = 5.5
    systemd.unit("chainfire-cluster-join.service")
    now[0] = 9.0
    systemd.unit("chainfire-cluster-join.service")
    assert timeouts == [5.0, 1.5, 0.1]


def test_one_systemctl_call_for_all_units_and_one_more_per_unit_it_did_not_name(tmp_path: Path) -> None:
    calls: list[Sequence[str]] = []
    inner = fake_systemd({"chainfire-cluster-join.service": {"ActiveState": "activating"}})

    def runner(argv: Sequence[str]) -> str | None:
        calls.append(argv)
        out = inner.runner(argv)
        # The batch answers without iam's block, as if systemctl had named it differently.
        if out and len(argv) > 5:
            out = "\n\n".join(b for b in out.split("\n\n") if "iam-initial-setup" not in b)
        return out

    steps = collect(MarkerStore(tmp_path), Systemd(runner=runner))
    assert steps[0].state is StepState.RUNNING
    assert [len([a for a in c if a.endswith(".service")]) for c in calls] == [4, 1]
    assert calls[1][-1] == "iam-initial-setup.service"
