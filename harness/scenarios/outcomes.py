"""The pytest plugin behind `cluster-test`'s exit code: `outcomes.json` in the run directory.

    {"harness/scenarios/test_bootstrap.py::test_markers": "passed", ...}

Kinds: passed, skipped, failed, timeout, infrastructure (a failed check, a timeout and an
infrastructure error are told apart), and after an interruption (SIGINT or SIGTERM, both
raise `Interrupted` here so pytest ends its session and writes junit.xml): `interrupted` for
the test that was running, `not run` for the selected tests that never started. Under
pytest-xdist (`--workers`) the controller does not know the selection, so tests that never
started are left out there.

`cluster-test` loads it with `-p harness.scenarios.outcomes`; the scenarios' conftest
registers it too, so plain `pytest --pyargs harness.scenarios` writes the same file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from typing import Any

import pytest

from harness.errors import InfrastructureError, WaitTimeout
from harness.machine.reaper import interrupt_on_signals

NAME = "harness.scenarios.outcomes"
OUTCOMES = pytest.StashKey[dict[str, str]]()
RUNNING = pytest.StashKey[list[str]]()
INTERRUPTED = "interrupted"
NOT_RUN = "not run"


def classify(exc: BaseException | None) -> str:
    if isinstance(exc, InfrastructureError):
        return "infrastructure"
    if isinstance(exc, WaitTimeout):
        return "timeout"
    return "failed"


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (CI cancelling, cluster-test forwarding) must end the session like Ctrl-C does:
    # pytest then tears the fixtures down and junitxml writes its file. By default it kills.
    interrupt_on_signals()
    config.stash[OUTCOMES] = {}
    config.stash[RUNNING] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, Any, Any]:
    running = item.config.stash[RUNNING]
    running.append(item.nodeid)
    result = yield  # an interrupt propagates through here, leaving the test listed as running
    running.remove(item.nodeid)
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    outcomes = item.config.stash[OUTCOMES]
    if report.failed:
        outcomes[item.nodeid] = classify(call.excinfo.value if call.excinfo else None)
    elif report.when == "call":
        outcomes.setdefault(item.nodeid, "skipped" if report.skipped else "passed")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The import is here: settings pulls in the cluster modules, which --list does not need.
    from harness.scenarios.settings import RunSettings

    outcomes = session.config.stash.get(OUTCOMES, {})
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        for nodeid in session.config.stash.get(RUNNING, []):
            outcomes[nodeid] = INTERRUPTED
        for item in session.items:
            outcomes.setdefault(item.nodeid, NOT_RUN)
    settings = RunSettings.from_env(os.environ)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    (settings.run_dir / "outcomes.json").write_text(json.dumps(outcomes, indent=2) + "\n")
