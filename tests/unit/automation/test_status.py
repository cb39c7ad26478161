"""`fba status` from markers and (faked) systemd; never blocks past its deadline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from automation.markers import MarkerState, MarkerStore
from automation.policy import Clock, Deadline
from automation.spec.exitcodes import ExitCode
from automation.spec.units import AUTOMATION_UNITS, UnitSpec
from automation.status import StepState, collect, run_status
from automation.systemd import Systemd, run_command

UNIT_NAMES = [unit.name for unit in AUTOMATION_UNITS]


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


def _status(markers: MarkerStore, fmt: str) -> tuple[ExitCode, str]:
    lines: list[str] = []
    code = run_status(markers, fake_systemd({}), wait=False, deadline=Deadline.start(1), emit=lines.append, fmt=fmt)
    return code, lines[0]


BAD_MARKERS = {
    "binary": (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "corrupt: not UTF-8 text"),
    "empty": (lambda p: p.write_bytes(b""), "corrupt: empty"),
    "bad-checksum": (lambda p: p.write_bytes(b"2025-12-10T10:30:45+00:00\nsha256:00\n"), "corrupt: checksum"),
    "directory": (lambda p: p.mkdir(), "unreadable: a directory, not a regular file"),
    "symlink-loop": (lambda p: p.symlink_to(p.name), "unreadable: Too many levels of symbolic links"),
    "dev-zero": (lambda p: p.symlink_to("/dev/zero"), "unreadable: a character device, not a regular file"),
    "fifo": (lambda p: __import__("os").mkfifo(p), "unreadable: a FIFO, not a regular file"),
    "50MB": (lambda p: p.write_bytes(b"a" * 50_000_000), "too large (over 4096 bytes)"),
}


@pytest.mark.timeout(20)  # a FIFO or /dev/zero read whole would hang or eat memory instead
@pytest.mark.parametrize("kind", sorted(BAD_MARKERS))
def test_an_untrusted_marker_is_reported_in_text_and_json(tmp_path: Path, kind: str) -> None:
    """README: "An empty or corrupt marker is reported and not trusted". It was not trusted,
    and not reported: the step just showed "pending"."""
    make, detail = BAD_MARKERS[kind]
    markers = MarkerStore(tmp_path)
    path = markers.path(".chainfire-joined")
    make(path)
    line = f"chainfire: marker {path} {detail}"

    code, text = _status(markers, "text")
    assert code is ExitCode.NOT_FINISHED  # the documented verdict: the step is not done
    assert f"    {line}" in text and "; not trusted" in text, text

    code, document = _status(markers, "json")
    parsed = json.loads(document)
    assert code is ExitCode.NOT_FINISHED and parsed["status"] == "not-finished"
    assert len(parsed["problems"]) == 1 and parsed["problems"][0].startswith(line), parsed
    assert parsed["steps"][0]["state"] == "pending" and parsed["steps"][0]["problems"] == parsed["problems"]


def test_a_trusted_marker_beside_a_corrupt_one_is_done_and_the_other_reported(tmp_path: Path) -> None:
    markers = MarkerStore(tmp_path)
    markers.write(".chainfire-initialized")
    markers.path(".chainfire-joined").write_bytes(b"")
    steps = collect(markers, fake_systemd({}))
    assert steps[0].state is StepState.DONE
    assert steps[0].problems == (f"chainfire: marker {markers.path('.chainfire-joined')} corrupt: empty; not trusted",)


@pytest.mark.parametrize("kind", ["missing", "regular file"])
def test_a_state_directory_that_cannot_hold_markers_is_reported_once(tmp_path: Path, kind: str) -> None:
    directory = tmp_path / "state"
    if kind == "regular file":
        directory.write_bytes(b"")
    markers = MarkerStore(directory)

    code, text = _status(markers, "text")
    assert code is ExitCode.NOT_FINISHED
    assert text.splitlines()[1].startswith(f"  state directory {directory} "), text
    assert "no marker can be read" in text and "marker " + str(directory) not in text, text

    code, document = _status(markers, "json")
    problems = json.loads(document)["problems"]
    assert len(problems) == 1 and problems[0].startswith(f"state directory {directory}"), problems


def test_no_problem_no_problem_lines(tmp_path: Path) -> None:
    markers = MarkerStore(tmp_path)
    markers.write(".chainfire-joined")
    code, text = _status(markers, "text")
    assert "not trusted" not in text and "state directory" not in text
    assert json.loads(_status(markers, "json")[1])["problems"] == []


def test_journal_bytes_that_are_not_utf8_are_replaced_not_an_internal_error(tmp_path: Path) -> None:
    """break 9, F13: `journalctl -o cat` writes a message's bytes as they are (a crash's stderr in
    the unit's cgroup); `fba status` exited 70 on UnicodeDecodeError instead of naming the failure."""
    script = tmp_path / "journalctl"
    script.write_bytes(
        b"#!/bin/sh\nprintf '"
        + b'{"level":"ERROR","message":"Join failed \\377","context":{"cause":"no quorum \\377\\376"}}'
        + b"\\n'\n"
    )
    script.chmod(0o755)
    out = run_command([str(script)])
    assert out is not None and "no quorum \ufffd\ufffd" in out
    systemd = Systemd(
        runner=lambda argv: (
            run_command([str(script)])
            if argv[0] == "journalctl"
            else "".join(
                f"Id={n}\nActiveState=failed\nResult=exit-code\n\n" for n in argv[3:] if n.endswith(".service")
            )
        )
    )
    steps = collect(MarkerStore(tmp_path / "state"), systemd)
    assert {s.state for s in steps} == {StepState.FAILED}
    assert steps[0].cause == "no quorum \ufffd\ufffd"


def test_wait_keeps_the_last_answer_when_systemctl_does_not_answer_in_time(tmp_path: Path) -> None:
    """break 9, F14: the second poll's `systemctl` ran out of time; the steps it had seen running
    were printed `pending` (not started yet), worse than the answer it had."""
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    answers = [fake_systemd({n: {"ActiveState": "activating"} for n in UNIT_NAMES}).runner]

    def runner(argv: Sequence[str]) -> str | None:
        if argv[0] == "systemctl" and answers:
            return answers.pop()(argv)
        return None  # every later call timed out (run_command's None)

    lines: list[str] = []
    code = run_status(
        MarkerStore(tmp_path),
        Systemd(runner=runner),
        wait=True,
        deadline=Deadline.start(3, Clock(monotonic=lambda: now[0], sleep=sleep)),
        emit=lines.append,
        fmt="json",
    )
    assert code is ExitCode.NOT_FINISHED
    assert [s["state"] for s in json.loads(lines[0])["steps"]] == ["running"] * 4


def test_a_marker_for_another_node_whose_unit_did_not_accept_it_is_not_done(tmp_path: Path) -> None:
    """Break 12, K14: a cloned disk's `.chainfire-joined` names node01; the join (which judges
    it with the config) failed and waits to restart. The step is not `done` on that marker's
    word: its unit's state stands, and the marker is named as not this node's. The config is
    asked only for such a step (`foreign_of`), a marker of ours on an active unit stays done."""
    from automation.spec.markers import MarkerIdentity

    markers = MarkerStore(tmp_path)
    markers.write(".chainfire-joined", MarkerIdentity("node01", "c1", "10.0.0.1:2380"))
    markers.write(".flaredb-joined", MarkerIdentity("node04", "c1", "10.0.0.4:2480"))
    asked: list[str] = []

    def foreign_of(unit: UnitSpec, state: MarkerState) -> str | None:
        asked.append(unit.name)
        return "node04 of cluster c1 (10.0.0.4:2380)" if state.identity and state.identity.node_id != "node04" else None

    systemd = fake_systemd(
        {
            "chainfire-cluster-join.service": {"ActiveState": "activating", "SubState": "auto-restart"},
            "flaredb-cluster-join.service": {"ActiveState": "active"},
        }
    )
    steps = collect(markers, systemd, foreign_of=foreign_of)
    assert [s.state for s in steps[:2]] == [StepState.RUNNING, StepState.DONE]
    assert "not for this node (node04 of cluster c1" in steps[0].problems[0]
    assert asked == ["chainfire-cluster-join.service"]
