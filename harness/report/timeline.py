"""Boot timelines: per node, when each unit started and finished, drawn as an SVG Gantt chart
(like `systemd-analyze plot`, for our units only), with fault intervals shaded, and checked
against the design's budgets (from the unit graph) scaled by the accelerator factor.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from automation.spec.units import AUTOMATION_UNITS


@dataclass(frozen=True)
class Bar:
    unit: str
    start_s: float | None
    end_s: float | None
    budget_s: float | None = None  # T+ by which the unit should have finished

    @property
    def over_budget(self) -> bool:
        return self.budget_s is not None and (self.end_s is None or self.end_s > self.budget_s)


@dataclass(frozen=True)
class FaultInterval:
    label: str
    start_s: float
    end_s: float | None


@dataclass(frozen=True)
class NodeTimeline:
    node: str
    bootstrap: bool
    factor: float
    bars: tuple[Bar, ...]
    faults: tuple[FaultInterval, ...] = ()

    def over_budget(self) -> list[Bar]:
        return [b for b in self.bars if b.over_budget]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def budgets(bootstrap: bool, factor: float) -> dict[str, float]:
    return {u.name: (u.budget_bootstrap_s if bootstrap else u.budget_join_s) * factor for u in AUTOMATION_UNITS}


def build(
    node: str,
    times: Mapping[str, tuple[float | None, float | None]],
    *,
    bootstrap: bool,
    factor: float,
    faults: Sequence[FaultInterval] = (),
) -> NodeTimeline:
    """`times`: unit -> (started T+s, finished T+s), seconds since userspace start."""
    limit = budgets(bootstrap, factor)
    bars = tuple(Bar(unit, start, end, limit.get(unit)) for unit, (start, end) in times.items())
    return NodeTimeline(node, bootstrap, factor, bars, tuple(faults))


ROW = 22
LEFT = 260
WIDTH = 900


def svg(timelines: Sequence[NodeTimeline]) -> str:
    """One SVG for the whole cluster: a block of rows per node, one bar per unit."""
    horizon = max(
        [b.end_s or b.start_s or 0.0 for t in timelines for b in t.bars]
        + [b.budget_s or 0.0 for t in timelines for b in t.bars]
        + [f.end_s or f.start_s for t in timelines for f in t.faults]
        + [1.0]
    )
    scale = (WIDTH - LEFT - 20) / horizon
    rows = sum(len(t.bars) + 1 for t in timelines)
    height = rows * ROW + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="monospace" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    step = _tick(horizon)
    tick = 0.0
    while tick <= horizon:
        x = LEFT + tick * scale
        out.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 10}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="14" text-anchor="middle" fill="#666">{tick:g}s</text>')
        tick += step
    y = 24
    for timeline in timelines:
        mode = "bootstrap" if timeline.bootstrap else "join"
        title = f"{html.escape(timeline.node)} ({mode}, budget x{timeline.factor:g})"
        out.append(f'<text x="4" y="{y + 15}" font-weight="bold">{title}</text>')
        block_top = y
        y += ROW
        for bar in timeline.bars:
            out.append(f'<text x="12" y="{y + 15}">{html.escape(bar.unit)}</text>')
            if bar.start_s is not None:
                x0 = LEFT + bar.start_s * scale
                x1 = LEFT + (bar.end_s if bar.end_s is not None else horizon) * scale
                color = "#d9534f" if bar.over_budget else "#5cb85c"
                label = f"{bar.start_s:.1f}-{bar.end_s:.1f}s" if bar.end_s is not None else f"{bar.start_s:.1f}s-"
                out.append(
                    f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 2):.1f}" height="{ROW - 8}" fill="{color}">'
                    f"<title>{html.escape(bar.unit)} {label}</title></rect>"
                )
            if bar.budget_s is not None:
                xb = LEFT + bar.budget_s * scale
                out.append(
                    f'<line x1="{xb:.1f}" y1="{y + 2}" x2="{xb:.1f}" y2="{y + ROW - 2}" '
                    'stroke="#333" stroke-dasharray="3,2"/>'
                )
            y += ROW
        for fault in timeline.faults:
            x0 = LEFT + fault.start_s * scale
            x1 = LEFT + (fault.end_s if fault.end_s is not None else horizon) * scale
            out.append(
                f'<rect x="{x0:.1f}" y="{block_top}" width="{max(x1 - x0, 2):.1f}" height="{y - block_top}" '
                f'fill="#f0ad4e" opacity="0.25"><title>{html.escape(fault.label)}</title></rect>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _tick(horizon: float) -> float:
    for step in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600):
        if horizon / step <= 15:
            return float(step)
    return 1200.0
