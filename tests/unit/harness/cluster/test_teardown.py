"""`Cluster.release` and `Cluster.down` go through each part's own public verbs (the node's
`release`/`crash`, the fabric's `release`/`teardown`): every part once, in order, even when
one of them raises; the failures are logged and returned, never raised."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

import pytest

from harness.cluster.cluster import Cluster, ClusterOptions
from harness.errors import TeardownError
from harness.log import RunLog, read_events
from harness.machine.node import Node
from harness.network import Fabric


class Part:
    """A fake node or fabric: only the public verbs teardown may use (no `_qmp`, `_ssh`,
    `_token`: reaching for one is an AttributeError), each call recorded in `calls`."""

    def __init__(self, name: str, calls: list[str], fails: str | None = None) -> None:
        self.name = name
        self.calls = calls
        self.fails = fails  # the verb that raises
        self.booted = False

    def _do(self, verb: str) -> None:
        self.calls.append(f"{verb} {self.name}")
        if verb == self.fails:
            raise TeardownError(f"{self.name}: {verb}", [f"{verb} broke"])

    def release(self) -> None:
        self._do("release")

    def crash(self) -> None:
        self._do("crash")

    def teardown(self) -> None:
        self._do("teardown")

    def is_up(self) -> bool:
        return False


def cluster(tmp_path: Path, calls: list[str], fails: dict[str, str]) -> Cluster:
    log = RunLog(events_path=tmp_path / "events.jsonl", quiet=True)
    made = Cluster(ClusterOptions(run_dir=tmp_path), log=log)
    made.nodes = {name: cast(Node, Part(name, calls, fails.get(name))) for name in ("node01", "node02", "node03")}
    made.fabric = cast(Fabric, Part("fba-1-abcdef", calls, fails.get("fabric")))
    return made


def logged(tmp_path: Path) -> list[tuple[str | None, str]]:
    return [(e["node"], e["msg"]) for e in read_events(tmp_path / "events.jsonl") if e["msg"].startswith("could not")]


@pytest.mark.parametrize("failing", [None, "node01", "node02", "node03", "fabric"])
def test_release_lets_go_of_every_part_once_even_when_one_fails(tmp_path: Path, failing: str | None) -> None:
    calls: list[str] = []
    kept = cluster(tmp_path, calls, {failing: "release"} if failing else {})
    problems = kept.release()
    assert calls == ["release node01", "release node02", "release node03", "release fba-1-abcdef"]
    if failing is None:
        assert problems == [] and logged(tmp_path) == []
    elif failing == "fabric":
        problem = "could not release namespace fba-1-abcdef: fba-1-abcdef: release: release broke"
        assert problems == [problem] and logged(tmp_path) == [(None, problem)]
    else:
        problem = f"could not release {failing}: {failing}: release: release broke"
        assert problems == [problem] and logged(tmp_path) == [(failing, problem)]
    assert kept.fabric is not None, "a kept cluster keeps its fabric: down() removes it later"


def test_down_takes_every_part_down_once_even_when_parts_fail(tmp_path: Path) -> None:
    calls: list[str] = []
    doomed = cluster(tmp_path, calls, {"node02": "crash", "fabric": "teardown"})
    (tmp_path / "attach.json").write_text("{}")
    problems = doomed.down()
    assert calls == ["crash node01", "crash node02", "crash node03", "teardown fba-1-abcdef"]
    assert problems == [
        "could not stop node02: node02: crash: crash broke",
        "could not delete namespace fba-1-abcdef: fba-1-abcdef: teardown: teardown broke",
    ]
    assert logged(tmp_path) == [("node02", problems[0]), (None, problems[1])]
    assert doomed.fabric is None and not (tmp_path / "attach.json").exists()
    # Again: the nodes are asked again (crash is idempotent), the fabric is not (its teardown
    # already tried every part and counts it as down).
    del calls[:]
    assert doomed.down() == ["could not stop node02: node02: crash: crash broke"]
    assert calls == ["crash node01", "crash node02", "crash node03"]


def test_down_collects_every_node_at_once_then_stops_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The three collections meet at a barrier: one after the other, the first would wait out
    its timeout and be logged as a failed collection."""
    calls: list[str] = []
    doomed = cluster(tmp_path, calls, {})
    barrier = threading.Barrier(3, timeout=5)

    def collect(self: Cluster, name: str, node: Node) -> None:
        barrier.wait()
        calls.append(f"collect {name}")

    monkeypatch.setattr(Cluster, "_collect_if_up", collect)
    assert doomed.down() == []
    assert sorted(calls[:3]) == ["collect node01", "collect node02", "collect node03"]
    assert calls[3:] == ["crash node01", "crash node02", "crash node03", "teardown fba-1-abcdef"]
