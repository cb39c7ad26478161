"""`mark_interrupted` adds an interrupted run's marks to pytest's junit.xml, or writes one."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from harness.report import junit

PYTEST_JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="cluster-test" errors="0"
failures="0" skipped="0" tests="1"><testcase classname="harness.scenarios.test_a" name="test_ok" time="1.0"/>
</testsuite></testsuites>"""


def test_running_and_never_started_tests_are_added_once(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(PYTEST_JUNIT)
    outcomes = {
        "harness/scenarios/test_a.py::test_ok": "passed",
        "harness/scenarios/test_a.py::test_cut": "interrupted",
        "harness/scenarios/test_b.py::Lab::test_later[1]": "not run",
    }
    junit.mark_interrupted(path, "cluster-test", outcomes, "SIGTERM")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    cases = {
        (c.get("classname"), c.get("name")): [(e.tag, e.get("message")) for e in c] for c in suite.iter("testcase")
    }
    assert cases == {
        ("harness.scenarios.test_a", "test_ok"): [],
        ("harness.scenarios.test_a", "test_cut"): [("error", "interrupted by SIGTERM while running")],
        ("harness.scenarios.test_b.Lab", "test_later[1]"): [("skipped", "not run: the run was interrupted by SIGTERM")],
    }
    assert (suite.get("tests"), suite.get("errors"), suite.get("skipped")) == ("3", "1", "1")


def test_a_run_killed_before_pytest_wrote_junit_still_gets_one(tmp_path: Path) -> None:
    path = junit.mark_interrupted(tmp_path / "junit.xml", "cluster-test", {"t.py::test_x": "interrupted"}, "SIGINT")
    root = ET.parse(path).getroot()
    [case] = root.iter("testcase")
    assert case.get("name") == "test_x"
    assert {p.get("name"): p.get("value") for p in root.iter("property")} == {"interrupted": "SIGINT"}
