"""Live progress of a run: per node the boot phase it is in, and its first-boot units.

Why the `cluster-test` process draws it, from files: pytest (a child process) captures what
the scenarios print, so a live log written inside the run never reaches the person waiting.
The run already writes everything progress needs to its report directory as it happens:
`events.jsonl` (QEMU started, the slowness factor, faults) and each node's `console.log` (QEMU
writes every byte). `cluster-test` tails those files and renders them itself, so scenarios and
`--script` runs show the same progress, nothing in the run needs changing, and a run that
hangs or is killed still shows how far each node got. The child's stdout is piped through
the same writer, so progress lines never land in the middle of a pytest line.

- `console_phases`: what a console says (phases, systemd status lines of our units, READY).
- `tracker`: per-node state and the changes, each exactly once.
- `follow`: reading the run directory while it grows.
- `render`: one plain line per change (not a terminal), or a rich live table (a terminal).
- `reporter`: the thread that polls and relays.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import TextIO

from rich.console import Console

from harness.progress.render import LineSink, LiveSink, Sink
from harness.progress.reporter import Reporter

__all__ = ["Mode", "Reporter", "choose_mode", "make_sink"]


class Mode(StrEnum):
    AUTO = "auto"
    LIVE = "live"
    LINES = "lines"
    OFF = "off"


def choose_mode(requested: Mode, out: TextIO) -> Mode:
    """`auto`: a live table on a terminal, plain lines otherwise (CI: stdout is a file)."""
    if requested is not Mode.AUTO:
        return requested
    terminal = out.isatty() and os.environ.get("TERM", "") != "dumb"
    return Mode.LIVE if terminal else Mode.LINES


def make_sink(mode: Mode, out: TextIO = sys.stdout, *, redirect: bool = False) -> Sink:
    """The sink for `mode` (LIVE or LINES); `redirect`: see `LiveSink`."""
    if mode is Mode.LIVE:
        return LiveSink(Console(file=out, highlight=False), redirect=redirect)
    return LineSink(out)
