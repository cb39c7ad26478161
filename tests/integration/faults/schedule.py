"""A fault schedule at the process tier, as data: what the stateful test did, step by step.

The hypothesis state machine records every step it runs as a `Step`; the schedule is written
as JSON next to the run's logs so a failing (shrunk) schedule replays with
`python -m tests.integration.faults replay FILE`. Targets that depend on the run (the
leader) are recorded by role, so a replay acts on whatever node leads at that moment; the
node the original run hit is kept in `hit` for the reader.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from automation.spec.failpoints import FAILPOINTS

FORMAT = "fba-process-faults/1"
JOIN_FAILPOINTS: tuple[str, ...] = tuple(n for n in FAILPOINTS if n.startswith(("join.", "marker.")))
FAILPOINT_ACTIONS: tuple[str, ...] = ("crash", "exit:1", "sleep:1")


class Op(StrEnum):
    JOIN = "join"  # start node's stand-in (join mode) and its `fba join`, failpoint optional
    KILL_LEADER = "kill_leader"  # SIGKILL the leader's stand-in
    PAUSE_LEADER = "pause_leader"  # SIGSTOP the leader's stand-in
    RESUME = "resume"  # SIGCONT every paused stand-in
    RESTART = "restart"  # start a killed stand-in again on its data dir
    REBOOT = "reboot"  # kill node's stand-in and join, new boot: stand-in + `fba join` again
    RETRY = "retry"  # systemd's Restart=on-failure: the same boot's join once more
    CONVERGE = "converge"  # heal everything, finish every join, check the end state


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Op
    node: int | None = None
    failpoint: str | None = None
    action: str = "crash"
    hit: int | None = Field(default=None, description="node the recorded run acted on")
    outcome: str | None = Field(default=None, description="what the recorded run saw")

    def failpoints_env(self) -> str:
        return f"{self.failpoint}={self.action}" if self.failpoint else ""

    def describe(self) -> str:
        parts = [self.op.value]
        if self.node is not None:
            parts.append(f"node{self.node:02d}")
        if self.failpoint:
            parts.append(self.failpoints_env())
        return " ".join(parts)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    size: int = 6
    steps: list[Step] = Field(default_factory=list)
    failure: str | None = None

    def save(self, path: Path) -> Path:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2, exclude_none=True) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> Schedule:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a process fault schedule: format {data.get('format')!r}, want {FORMAT!r}")
        return cls.model_validate(data)
