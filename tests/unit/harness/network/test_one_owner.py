"""The bug that gave network faults one owner: `Faults` healed a partition by clearing every
rule and replaying its own list, so a block made through `Node.block()` (not in that list)
was silently lifted, and the bridge was fully open between the clear and the replay."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.faults.injector import Faults
from harness.faults.recorder import FaultRecorder
from harness.machine.config import NodeConfig
from harness.machine.node import Node
from harness.machine.qemu import DirectBoot
from harness.network import fabric as fabric_module
from harness.network.fabric import Fabric

PORTS = {"node01": "tap1", "node02": "tap2", "node03": "tap3"}
BLOCK_NODE03 = ('iifname "tap3" drop', 'oifname "tap3" drop')


def test_a_node_block_survives_healing_a_partition_of_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts: list[str] = []

    def fake_run(argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        assert list(argv[-3:]) == ["nft", "-f", "-"], argv  # the only command this test may cause
        scripts.append(kw["stdin"])
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    monkeypatch.setattr(fabric_module, "run", fake_run)
    fabric = Fabric(prefix="fbunit", mode="root")  # never brought up: no namespace, nft is faked
    fabric.ports.update(PORTS)
    cfg = NodeConfig(name="node03", state_dir=tmp_path / "n3", boot=DirectBoot(Path("/k"), Path("/i")))
    node03 = Node(cfg, link=fabric)
    recorder = FaultRecorder()
    faults = Faults({n: object() for n in PORTS}, fabric.faults, recorder)  # type: ignore[misc]

    node03.block()
    assert all(rule in scripts[-1] for rule in BLOCK_NODE03)
    scripts.clear()
    with faults.partition([["node01"], ["node02"]]):
        pass
    # Every nft transaction loaded while partitioning and healing kept node03 blocked: it is
    # never lifted, not even for a moment.
    assert scripts, "the partition and its heal loaded nothing"
    for script in scripts:
        assert all(rule in script for rule in BLOCK_NODE03), script
    node03.unblock()
    assert not any(rule in scripts[-1] for rule in BLOCK_NODE03)


def test_node_blocks_are_recorded_and_lift_only_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripts: list[str] = []
    monkeypatch.setattr(fabric_module, "run", lambda argv, **kw: scripts.append(kw["stdin"]))
    fabric = Fabric(prefix="fbunit", mode="root")
    fabric.ports.update(PORTS)
    recorder = FaultRecorder()
    fabric.faults.recorder = recorder  # what Faults.for_cluster does
    faults = Faults({n: object() for n in PORTS}, fabric.faults, recorder)  # type: ignore[misc]
    cfg = NodeConfig(name="node03", state_dir=tmp_path / "n3", boot=DirectBoot(Path("/k"), Path("/i")))
    node03 = Node(cfg, link=fabric)

    node03.block()
    node03.block()  # idempotent: still one entry, one interval
    held = faults.block("node03")  # a second owner of the same block
    node03.unblock()
    assert all(rule in scripts[-1] for rule in BLOCK_NODE03)  # the Faults block is still in force
    held.stop()
    assert not any(rule in scripts[-1] for rule in BLOCK_NODE03)
    assert [(r.kind, r.label, r.nodes, r.active) for r in recorder.records] == [
        ("block", "node03", ("node03",), False),
        ("block", "node03", ("node03",), False),
    ]
    assert fabric.faults.entries == {}
