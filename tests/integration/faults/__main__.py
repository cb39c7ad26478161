"""Replay a recorded process-tier fault schedule.

    python -m tests.integration.faults replay FILE [--workdir DIR]
    python -m tests.integration.faults to-vm FILE [--out VMFILE]

`replay` boots a fresh 3-node stand-in cluster on loopback, runs the schedule's steps in
order with the same invariant checks as the stateful test, prints one line per step and
exits 0 (all held), 1 (an invariant broke; the message says which) or 2 (bad input).
`to-vm` converts the schedule to the VM harness's fault-schedule format, for
`cluster-test --replay VMFILE`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from .cluster import ProcessCluster
from .executor import FaultRun, InvariantViolation
from .schedule import Schedule


def replay(path: Path, workdir: Path | None) -> int:
    try:
        schedule = Schedule.load(path)
    except (OSError, ValueError) as err:
        print(f"replay: cannot read {path}: {err}", file=sys.stderr)
        return 2
    work = workdir or Path(tempfile.mkdtemp(prefix="fba-faults-replay-"))
    run = FaultRun(ProcessCluster(work, schedule.size))
    started = time.monotonic()
    print(f"replay: {len(schedule.steps)} steps from {path}; logs in {work}")
    try:
        run.bootstrap()
        for i, step in enumerate(schedule.steps, 1):
            done = run.apply(step.model_copy(update={"hit": None, "outcome": None}))
            was = f" (recorded: {step.outcome} on node{step.hit:02d})" if step.hit else ""
            print(f"  {i:2d}. {done.describe():40s} -> {done.outcome}{was}")
    except InvariantViolation as err:
        print(f"replay: FAILED after {time.monotonic() - started:.1f}s: {err}")
        return 1
    finally:
        run.close()
    print(f"replay: all invariants held ({time.monotonic() - started:.1f}s)")
    return 0


def to_vm(path: Path, out: Path | None) -> int:
    from .vm_schedule import convert

    try:
        schedule = Schedule.load(path)
    except (OSError, ValueError) as err:
        print(f"to-vm: cannot read {path}: {err}", file=sys.stderr)
        return 2
    text = convert(schedule)
    if out is None:
        print(text)
    else:
        out.write_text(text)
        print(f"to-vm: wrote {out}; run: flock /tmp/fba-vm.lock .venv/bin/cluster-test --replay {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.faults")
    sub = parser.add_subparsers(dest="command", required=True)
    p_replay = sub.add_parser("replay", help="replay a schedule against loopback processes")
    p_replay.add_argument("file", type=Path)
    p_replay.add_argument("--workdir", type=Path)
    p_vm = sub.add_parser("to-vm", help="convert a schedule to the VM fault-schedule format")
    p_vm.add_argument("file", type=Path)
    p_vm.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "replay":
        return replay(args.file, args.workdir)
    return to_vm(args.file, args.out)


if __name__ == "__main__":
    sys.exit(main())
