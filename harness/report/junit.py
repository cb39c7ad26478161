"""JUnit XML: every driver-script subtest with its real duration and failure text (`write`), and
the marks an interrupted run adds to a report (`mark_interrupted`).

An interrupted run (SIGINT/SIGTERM, exit 130) still has its junit.xml. What ran keeps its
passed/failed testcase. The test or subtest that was running gets
`<error type="interrupted" message="interrupted by SIGTERM while running">`; scenarios selected
but not started get `<skipped type="not-run" message="not run: the run was interrupted by SIGTERM">`
(a driver script's later subtests are unknown until it runs them, so they are left out); the
suite gets the property `interrupted` = the signal name.
"""

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
    @property
    def interrupted(self) -> bool: ...


def write(
    path: Path,
    suite: str,
    subtests: Sequence[Subtest],
    *,
    error: str | None = None,
    headline: str = "",
    total: float | None = None,
    interrupted: str | None = None,
) -> Path:
    """`total`: the whole script's wall time, recorded as a `main` testcase (as the NixOS driver
    does), so a script without subtests still has a testcase with its real duration.
    `interrupted`: the signal that stopped the run; `main` then carries an interrupted error
    (`error` or not) and a subtest with `interrupted` set one too, instead of its failure."""
    failures = sum(1 for s in subtests if s.failure and not s.interrupted)
    errors = sum(1 for s in subtests if s.interrupted)
    if interrupted and error is None:
        error = f"{INTERRUPTED_MESSAGE} {interrupted}"
    main = total is not None or error is not None
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(subtests) + (1 if main else 0)),
        failures=str(failures),
        errors=str(errors + (1 if error else 0)),
        time=f"{total if total is not None else sum(s.duration for s in subtests):.3f}",
    )
    if headline or interrupted:
        props = ET.SubElement(root, "properties")
        if headline:
            ET.SubElement(props, "property", name="accel", value=headline)
        if interrupted:
            ET.SubElement(props, "property", name="interrupted", value=interrupted)
    for sub in subtests:
        case = ET.SubElement(root, "testcase", classname=suite, name=sub.name, time=f"{sub.duration:.3f}")
        if sub.interrupted:
            _interrupted_error(case, interrupted or "a signal")
        elif sub.failure:
            node = ET.SubElement(case, "failure", message=sub.failure.splitlines()[0][:200] if sub.failure else "")
            node.text = sub.failure
    if main:
        case = ET.SubElement(root, "testcase", classname=suite, name="main", time=f"{total or 0.0:.3f}")
        if error and interrupted:
            _interrupted_error(case, interrupted).text = error
        elif error:
            ET.SubElement(case, "error", message=error.splitlines()[0][:200]).text = error
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


INTERRUPTED_MESSAGE = "interrupted by"
NOT_RUN_MESSAGE = "not run: the run was interrupted by"


def _interrupted_error(case: ET.Element, signal_name: str) -> ET.Element:
    message = f"{INTERRUPTED_MESSAGE} {signal_name} while running"
    return ET.SubElement(case, "error", type="interrupted", message=message)


def mark_interrupted(path: Path, suite: str, outcomes: dict[str, str], signal_name: str) -> Path:
    """Add an interrupted run's marks to pytest's junit.xml at `path` (written if missing).

    `outcomes`: pytest node id -> kind, as `harness.scenarios.outcomes` writes them; the ids of
    kind `interrupted` and `not run` become testcases (`error` and `skipped`, see the module
    doc) unless the file already has them. Returns `path`.
    """
    if path.exists():
        tree = ET.parse(path)
        root = tree.getroot()
        suite_el = root if root.tag == "testsuite" else root.find("testsuite")
        if suite_el is None:
            suite_el = ET.SubElement(root, "testsuite", name=suite, tests="0", errors="0", failures="0", skipped="0")
    else:
        root = ET.Element("testsuites")
        suite_el = ET.SubElement(root, "testsuite", name=suite, tests="0", errors="0", failures="0", skipped="0")
        tree = ET.ElementTree(root)
    props = suite_el.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite_el.insert(0, props)
    ET.SubElement(props, "property", name="interrupted", value=signal_name)
    present = {(c.get("classname"), c.get("name")) for c in suite_el.iter("testcase")}
    for nodeid, kind in sorted(outcomes.items()):
        if kind not in ("interrupted", "not run"):
            continue
        classname, name = _junit_names(nodeid)
        if (classname, name) in present:
            continue
        case = ET.SubElement(suite_el, "testcase", classname=classname, name=name, time="0.000")
        _bump(suite_el, "tests")
        if kind == "interrupted":
            _interrupted_error(case, signal_name)
            _bump(suite_el, "errors")
        else:
            ET.SubElement(case, "skipped", type="not-run", message=f"{NOT_RUN_MESSAGE} {signal_name}")
            _bump(suite_el, "skipped")
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def _junit_names(nodeid: str) -> tuple[str, str]:
    """pytest's junit names for a node id: `a/b/test_x.py::C::test_y[1]` -> (`a.b.test_x.C`, `test_y[1]`)."""
    parts = nodeid.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    return ".".join([module, *parts[1:-1]]), parts[-1]


def _bump(element: ET.Element, attribute: str) -> None:
    element.set(attribute, str(int(element.get(attribute, "0")) + 1))
