"""Where progress goes: plain lines (not a terminal) or a rich live table (a terminal).

Both sinks also relay the run's own output (the pytest child's stdout, line by line), so
progress and pytest never write into the middle of each other's lines.

`LineSink` writes one line per change and nothing else: no redraw, no repeats (the tracker
only reports changes), e.g.

    join-faults/node02: systemd -> network-online (41.2 s)
    join-faults/node02: chainfire-cluster-join.service finished at T+48.2 s (budget T+250.3 s)

`LiveSink` redraws one table twice a second: per node its phase, the time in it and since QEMU
started; per first-boot unit its state and T+ against its budget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.progress.tracker import Change, NodeProgress, UnitProgress

__all__ = ["LineSink", "LiveSink", "Sink", "progress_table"]


class Sink(Protocol):
    def changes(self, changes: Iterable[Change]) -> None: ...
    def update(self, nodes: Iterable[NodeProgress], now: float) -> None: ...
    def relay(self, line: str) -> None: ...
    def close(self) -> None: ...


class LineSink:
    """One plain line per change on `out` (flushed: CI shows it as it happens)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()

    def changes(self, changes: Iterable[Change]) -> None:
        lines = [c.line() + "\n" for c in changes]
        if lines:
            self._write("".join(lines))

    def update(self, nodes: Iterable[NodeProgress], now: float) -> None:
        """Nothing: lines are written only on changes."""

    def relay(self, line: str) -> None:
        self._write(line if line.endswith("\n") else line + "\n")

    def close(self) -> None:
        with self._lock:
            self.out.flush()

    def _write(self, text: str) -> None:
        with self._lock:
            self.out.write(text)
            self.out.flush()


def _unit_cell(progress: NodeProgress, unit: UnitProgress, now: float) -> Text:
    if unit.state == "waiting":
        return Text(f"{unit.name}: waiting", style="dim")
    end = unit.ended_at if unit.ended_at is not None else now
    t = end - progress.zero()
    budget = f" / T+{unit.budget_s:.0f} s" if unit.budget_s is not None else ""
    # An end told only by the READY line is an upper bound: past the budget it proves nothing.
    over = unit.budget_s is not None and t > unit.budget_s and not unit.end_is_bound
    restarts = f" x{unit.starts}" if unit.starts > 1 else ""
    style = "red" if unit.state == "failed" or over else "green" if unit.state == "done" else "yellow"
    return Text(f"{unit.name}: {unit.state}{restarts} T+{t:.0f} s{budget}", style=style)


def progress_table(nodes: Iterable[NodeProgress], now: float) -> Table:
    """The live view: one row per node, its units below it."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for column in ("node", "phase", "in phase", "since QEMU"):
        table.add_column(column)
    for progress in nodes:
        table.add_row(
            Text(progress.label, style="bold cyan"),
            progress.phase,
            f"{now - progress.phase_at:.0f} s",
            f"{now - progress.qemu_at:.0f} s",
        )
        if "network-online" in progress.reached:
            for unit in progress.units.values():
                table.add_row("", _unit_cell(progress, unit, now), "", "")
    return table


class LiveSink:
    """A rich live table on `console`; relayed lines are printed above it."""

    def __init__(self, console: Console, *, redirect: bool = False) -> None:
        """`redirect`: print this process's own stdout/stderr above the table (a `--script`
        run logs in-process); a pytest child's output comes through `relay` instead."""
        self.console = console
        self._live = Live(Table(), console=console, refresh_per_second=2, transient=False,
                          redirect_stdout=redirect, redirect_stderr=redirect)  # fmt: skip
        self._live.start()

    def changes(self, changes: Iterable[Change]) -> None:
        """Nothing: the table shows the current state."""

    def update(self, nodes: Iterable[NodeProgress], now: float) -> None:
        self._live.update(progress_table(list(nodes), now))

    def relay(self, line: str) -> None:
        self._live.console.print(Text.from_ansi(line.rstrip("\n")), soft_wrap=True)

    def close(self) -> None:
        self._live.stop()
