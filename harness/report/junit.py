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

# junitparser (the NixOS driver writes its junit.xml with it too) rather than our own
# ElementTree code: it keeps the element names, attributes and counts of the format for us.
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite


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
    if interrupted and error is None:
        error = f"{INTERRUPTED_MESSAGE} {interrupted}"
    root = TestSuite(suite)
    # Properties first, as the JUnit schema orders them (junitparser appends where asked).
    if headline:
        root.add_property("accel", headline)
    if interrupted:
        root.add_property("interrupted", interrupted)
    for sub in subtests:
        case = TestCase(sub.name, classname=suite, time=round(sub.duration, 3))
        if sub.interrupted:
            case.result = [_interrupted_error(interrupted or "a signal")]
        elif sub.failure:
            case.result = [_with_text(Failure(sub.failure.splitlines()[0][:200] if sub.failure else ""), sub.failure)]
        root.add_testcase(case)
    if total is not None or error is not None:
        case = TestCase("main", classname=suite, time=round(total or 0.0, 3))
        if error and interrupted:
            case.result = [_with_text(_interrupted_error(interrupted), error)]
        elif error:
            case.result = [_with_text(Error(error.splitlines()[0][:200]), error)]
        root.add_testcase(case)
    cases = list(root)
    root.tests = len(cases)
    root.failures = sum(1 for case in cases for r in case.result if isinstance(r, Failure))
    root.errors = sum(1 for case in cases for r in case.result if isinstance(r, Error))
    root.time = round(total if total is not None else sum(s.duration for s in subtests), 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    root.write(str(path))
    return path


INTERRUPTED_MESSAGE = "interrupted by"
NOT_RUN_MESSAGE = "not run: the run was interrupted by"


def _interrupted_error(signal_name: str) -> Error:
    return Error(f"{INTERRUPTED_MESSAGE} {signal_name} while running", "interrupted")


def _with_text(result: Error | Failure, text: str) -> Error | Failure:
    result.text = text
    return result


def mark_interrupted(path: Path, suite: str, outcomes: dict[str, str], signal_name: str) -> Path:
    """Add an interrupted run's marks to pytest's junit.xml at `path` (written if missing).

    `outcomes`: pytest node id -> kind, as `harness.scenarios.outcomes` writes them; the ids of
    kind `interrupted` and `not run` become testcases (`error` and `skipped`, see the module
    doc) unless the file already has them. Returns `path`.
    """
    xml = JUnitXml.fromfile(str(path)) if path.exists() else JUnitXml()
    if isinstance(xml, TestSuite):  # a file whose root is one testsuite (pytest writes testsuites)
        target: TestSuite = xml
    else:
        target = next(iter(xml), None) or TestSuite(suite)
        if target not in list(xml):
            xml.add_testsuite(target)
    target.add_property("interrupted", signal_name)
    present = {(case.classname, case.name) for case in target}
    for nodeid, kind in sorted(outcomes.items()):
        if kind not in ("interrupted", "not run"):
            continue
        classname, name = _junit_names(nodeid)
        if (classname, name) in present:
            continue
        case = TestCase(name, classname=classname, time=0.0)
        # Counted by hand, not by `update_statistics`: that would also re-add the suite's time
        # from its cases, and pytest's suite time (with set-up and teardown) is the true one.
        target.tests = (target.tests or 0) + 1
        if kind == "interrupted":
            case.result = [_interrupted_error(signal_name)]
            target.errors = (target.errors or 0) + 1
        else:
            case.result = [Skipped(f"{NOT_RUN_MESSAGE} {signal_name}", "not-run")]
            target.skipped = (target.skipped or 0) + 1
        target.add_testcase(case)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path))
    return path


def _junit_names(nodeid: str) -> tuple[str, str]:
    """pytest's junit names for a node id: `a/b/test_x.py::C::test_y[1]` -> (`a.b.test_x.C`, `test_y[1]`)."""
    parts = nodeid.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    return ".".join([module, *parts[1:-1]]), parts[-1]

