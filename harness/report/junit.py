"""JUnit XML for driver scripts: every subtest with its real duration and failure text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from xml.etree import ElementTree as ET


class Subtest(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def failure(self) -> str | None: ...


def write(
    path: Path,
    suite: str,
    subtests: Sequence[Subtest],
    *,
    error: str | None = None,
    headline: str = "",
    total: float | None = None,
) -> Path:
    """`total`: the whole script's wall time, recorded as a `main` testcase (as the NixOS driver
    does), so a script without subtests still has a testcase with its real duration."""
    failures = sum(1 for s in subtests if s.failure)
    main = total is not None or error is not None
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(subtests) + (1 if main else 0)),
        failures=str(failures),
        errors="1" if error else "0",
        time=f"{total if total is not None else sum(s.duration for s in subtests):.3f}",
    )
    if headline:
        props = ET.SubElement(root, "properties")
        ET.SubElement(props, "property", name="accel", value=headline)
    for sub in subtests:
        case = ET.SubElement(root, "testcase", classname=suite, name=sub.name, time=f"{sub.duration:.3f}")
        if sub.failure:
            node = ET.SubElement(case, "failure", message=sub.failure.splitlines()[0][:200] if sub.failure else "")
            node.text = sub.failure
    if main:
        case = ET.SubElement(root, "testcase", classname=suite, name="main", time=f"{total or 0.0:.3f}")
        if error:
            ET.SubElement(case, "error", message=error.splitlines()[0][:200]).text = error
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
