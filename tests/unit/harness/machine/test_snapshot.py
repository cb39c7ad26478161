"""`harness.machine.snapshot` against a scripted QMP: what a failed, stuck or finished save
leaves behind, and what a restore is told (no QEMU; the VM tier runs the real thing)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from harness.errors import InfrastructureError
from harness.machine.qmp import QmpSession
from harness.machine.snapshot import MANIFEST, STATE_FILE, SavedState, incoming_args, resume, save_state
from harness.waits import WaitExpired
from tests.unit.harness.machine.fakes import FakeClock


class ScriptedQmp:
    """Answers `query-migrate` with `statuses` in turn (the last one repeats); runs the
    `exec:` command of `migrate` in a shell when told to (it writes the state file)."""

    def __init__(self, statuses: list[dict[str, Any]], *, run_exec: bool = True, load: str = "paused") -> None:
        self.statuses = statuses
        self.run_exec = run_exec
        self.load = load
        self.commands: list[str] = []

    def execute(self, command: str, arguments: dict[str, Any] | None = None, **_: Any) -> Any:
        self.commands.append(command)
        if command == "migrate" and self.run_exec:
            uri = str((arguments or {})["uri"]).removeprefix("exec:")
            subprocess.run(["sh", "-c", uri], input=b"\0" * 4096, check=True)
        if command == "query-migrate":
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {}

    def stop(self) -> None:
        self.commands.append("stop")

    def cont(self) -> None:
        self.commands.append("cont")

    def query_status(self) -> dict[str, Any]:
        self.commands.append("query-status")
        return {"status": self.load}


def qmp(fake: ScriptedQmp) -> QmpSession:
    return cast(QmpSession, fake)


def test_a_finished_save_is_whole_and_named_by_its_manifest(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = ScriptedQmp([{"status": "active"}, {"status": "completed"}])
    saved = save_state(qmp(fake), tmp_path / "s", timeout=30, clock=clock, sleep=clock.sleep)
    assert fake.commands[:2] == ["stop", "migrate"] and "cont" not in fake.commands
    assert saved == SavedState.at(tmp_path / "s")
    assert saved.disk is None and saved.state_bytes == (tmp_path / "s" / STATE_FILE).stat().st_size
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [MANIFEST, STATE_FILE]
    # the stream really is zstd: it decompresses to what "QEMU" wrote
    out = subprocess.run(["zstd", "-q", "-dc", str(saved.state)], capture_output=True, check=True).stdout
    assert out == b"\0" * 4096


def test_a_failed_migration_leaves_no_save_and_says_why(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = ScriptedQmp([{"status": "failed", "error-desc": "Unable to write to command: Broken pipe"}])
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / MANIFEST).write_text("{}")  # an older save in the same place is void now
    with pytest.raises(InfrastructureError, match="migration failed: Unable to write to command"):
        save_state(qmp(fake), tmp_path / "s", timeout=30, clock=clock, sleep=clock.sleep)
    assert not (tmp_path / "s" / MANIFEST).exists()
    with pytest.raises(InfrastructureError, match="no finished guest save"):
        SavedState.at(tmp_path / "s")


def test_a_stuck_migration_is_cancelled_at_its_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = ScriptedQmp([{"status": "active", "ram": {"transferred": 123}}], run_exec=False)
    with pytest.raises(WaitExpired, match="migration of the guest state") as info:
        save_state(qmp(fake), tmp_path / "s", timeout=20, clock=clock, sleep=clock.sleep)
    assert "ram 123 B sent" in str(info.value)
    assert fake.commands[-1] == "migrate_cancel"
    assert clock.now - 1000.0 <= 20 + 1.0
    assert not list((tmp_path / "s").iterdir())


def test_a_compressor_that_never_finishes_leaves_no_state(tmp_path: Path) -> None:
    # QEMU says completed, but the file never got its final name (zstd killed, disk full).
    clock = FakeClock()
    fake = ScriptedQmp([{"status": "completed"}], run_exec=False)
    with pytest.raises(WaitExpired, match="the compressor to finish"):
        save_state(qmp(fake), tmp_path / "s", timeout=10, clock=clock, sleep=clock.sleep)
    assert not (tmp_path / "s" / MANIFEST).exists()


def test_incoming_args_keep_the_guest_paused_and_quote_the_path(tmp_path: Path) -> None:
    state = tmp_path / "with space" / STATE_FILE
    args = incoming_args(SavedState(state, None, 1, 0.0))
    assert args[:2] == ("-S", "-incoming")
    assert shlex.split(args[2].removeprefix("exec:"))[-1] == str(state)


@pytest.mark.parametrize("status", ["paused", "prelaunch", "postmigrate", "running"])
def test_resume_runs_a_loaded_guest(status: str) -> None:
    clock = FakeClock()
    fake = ScriptedQmp([{}], load=status)
    resume(qmp(fake), timeout=10, clock=clock, sleep=clock.sleep)
    assert fake.commands[-1] == "cont"


def test_resume_of_a_failed_load_says_so_and_does_not_run(tmp_path: Path) -> None:
    clock = FakeClock()
    fake = ScriptedQmp([{"status": "failed", "error-desc": "load of migration failed: Invalid argument"}],
                       load="inmigrate")  # fmt: skip
    with pytest.raises(WaitExpired, match="the saved guest state to load"):
        resume(qmp(fake), timeout=5, clock=clock, sleep=clock.sleep)
    fake.load = "internal-error"
    with pytest.raises(InfrastructureError, match="load of migration failed: Invalid argument"):
        resume(qmp(fake), timeout=5, clock=clock, sleep=clock.sleep)
    assert "cont" not in fake.commands


def test_the_manifest_is_plain_json(tmp_path: Path) -> None:
    clock = FakeClock()
    save_state(qmp(ScriptedQmp([{"status": "completed"}])), tmp_path, timeout=30, clock=clock, sleep=clock.sleep)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["state"] == STATE_FILE and manifest["disk"] is None and manifest["state_bytes"] > 0
