from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.faults.recorder import FaultRecorder

from .fakes import FakeClock, FakeSink


def test_interval_records_start_and_stop_in_memory_and_as_events() -> None:
    clock, sink = FakeClock(now=50.0), FakeSink()
    recorder = FaultRecorder(sink, clock=clock, origin=40.0)
    with recorder.interval("partition", "node04 | node01,node02", nodes=("node04",), groups=[["node04"]]):
        clock.now = 62.5
    [record] = recorder.records
    assert (record.kind, record.start_s, record.end_s, record.active) == ("partition", 10.0, 22.5, False)
    assert [e["phase"] for e in sink.events] == ["start", "stop"]
    assert sink.events[0]["kind"] == "fault" and sink.events[0]["node"] == "node04"
    assert sink.events[1]["at_s"] == 22.5 and sink.events[0]["args"] == {"groups": [["node04"]]}


def test_interval_records_the_error_and_reraises() -> None:
    clock = FakeClock()
    recorder = FaultRecorder(None, clock=clock)
    with pytest.raises(ValueError), recorder.interval("crash", "node01"):
        raise ValueError("boom")
    assert recorder.records[0].error == "ValueError: boom"
    assert recorder.records[0].end_s == 0.0


def test_stop_is_idempotent_and_unknown_ids_are_named() -> None:
    clock = FakeClock()
    recorder = FaultRecorder(None, clock=clock)
    fid = recorder.start("pause", "node01", nodes=["node01"])
    assert recorder.active()[0].id == fid
    clock.now += 3
    first = recorder.stop(fid)
    clock.now += 3
    assert recorder.stop(fid) == first
    with pytest.raises(HarnessError, match="no fault #99"):
        recorder.stop(99)


def test_for_node_includes_cluster_wide_faults() -> None:
    recorder = FaultRecorder(None, clock=FakeClock())
    recorder.start("pause", "node01", nodes=["node01"])
    recorder.start("netem", "everywhere")
    recorder.start("crash", "node02", nodes=["node02"])
    assert [r.kind for r in recorder.for_node("node01")] == ["pause", "netem"]
    assert [r["kind"] for r in recorder.as_json()] == ["pause", "netem", "crash"]
