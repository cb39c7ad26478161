"""Read a run directory while the run writes it: new `events.jsonl` lines and the consoles
the events name, fed to a `Tracker`.

Files are only read, never locked or truncated; a torn last line of `events.jsonl` (the writer
is mid-line) is kept until its newline arrives. Files that existed before the follower started
belong to an earlier run in a reused `--report` directory and are skipped up to their size
then, so boot counts start at this run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.progress.tracker import Change, Tracker

__all__ = ["RunFollower"]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class RunFollower:
    """`poll()` reads what is new under `run_dir` and returns the tracker's changes."""

    def __init__(self, run_dir: Path, tracker: Tracker) -> None:
        self.run_dir = run_dir
        self.tracker = tracker
        self.events_path = run_dir / "events.jsonl"
        self._events_at = _size(self.events_path)
        self._partial = b""
        # Console logs are appended across boots and runs (QEMU logappend=on): skip older runs.
        self._base = {str(p): _size(p) for p in run_dir.glob("**/nodes/*/console.log")}
        self._seen: dict[str, int] = {}

    def poll(self) -> list[Change]:
        changes: list[Change] = []
        for event in self._new_events():
            changes += self.tracker.event(event)
        for key, path in self.tracker.keys().items():
            size = _size(path)
            if self._seen.get(key) == size:
                continue  # nothing new on this console
            self._seen[key] = size
            changes += self.tracker.console(key, self._console(path))
        return changes

    def _new_events(self) -> list[dict[str, Any]]:
        try:
            with self.events_path.open("rb") as f:
                f.seek(self._events_at)
                data = f.read()
        except OSError:
            return []
        self._events_at += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        events: list[dict[str, Any]] = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not ours to judge; read_events skips such lines too
            if isinstance(record, dict):
                events.append(record)
        return events

    def _console(self, path: Path) -> str:
        try:
            with path.open("rb") as f:
                f.seek(self._base.get(str(path), 0))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
