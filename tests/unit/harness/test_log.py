"""RunLog: nested timed steps, node prefixes, JSON-lines events."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from harness.log import RunLog, read_events
from tests.unit.harness.machine.fakes import FakeClock


def test_nested_steps_are_timed_and_recorded(tmp_path: Path) -> None:
    clock = FakeClock()
    out = io.StringIO()
    log = RunLog(events_path=tmp_path / "ev.jsonl", console=Console(file=out, width=200), clock=clock)
    node = log.for_node("node01")
    with log.nested("boot cluster"):
        clock.now += 1.5
        node.log("kernel up")
    with pytest.raises(RuntimeError), node.nested("fails"):
        raise RuntimeError("x")
    log.close()
    events = read_events(tmp_path / "ev.jsonl")
    kinds = [(e["kind"], e["node"], e["msg"]) for e in events]
    assert kinds == [
        ("step_start", None, "boot cluster"),
        ("log", "node01", "kernel up"),
        ("step_end", None, "boot cluster"),
        ("step_start", "node01", "fails"),
        ("step_end", "node01", "fails"),
    ]
    assert events[2]["duration"] == 1.5 and events[2]["ok"] is True
    assert events[4]["ok"] is False
    text = out.getvalue()
    assert "  node01: kernel up" in text and "(1.50 s)" in text and "[failed]" in text


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_text('{"kind": "log"}\n{"kind": "lo')
    assert read_events(p) == [{"kind": "log"}]
