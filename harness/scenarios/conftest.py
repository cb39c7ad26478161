"""Fixtures for the scenarios. The run's outcome file, which `cluster-test` turns into its exit
code, is written by the `harness.scenarios.outcomes` plugin, registered here. Only fixtures
and hooks live here: the helpers the scenario modules share are regular modules
(`harness.scenarios.lab`, `harness.cluster.operational`, `harness.cluster.journal`,
`harness.report.fault_timeline`), which the test modules import; never this file."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.topology import Topology
from harness.log import RunLog
from harness.scenarios import outcomes
from harness.scenarios.lab import booted_cluster
from harness.scenarios.settings import RunSettings


def pytest_configure(config: pytest.Config) -> None:
    # The outcome file and the interrupt handling, also for plain `pytest --pyargs harness.scenarios`
    # (cluster-test loads the plugin itself with -p).
    if not config.pluginmanager.has_plugin(outcomes.NAME):
        config.pluginmanager.register(outcomes, outcomes.NAME)


@pytest.fixture(scope="session")
def settings() -> RunSettings:
    return RunSettings.from_env(os.environ)


@pytest.fixture(scope="session")
def run_log(settings: RunSettings) -> Iterator[RunLog]:
    log = RunLog(events_path=settings.run_dir / "events.jsonl")
    yield log
    log.close()


@pytest.fixture(scope="module")
def bootstrap_cluster(request: pytest.FixtureRequest, settings: RunSettings, run_log: RunLog) -> Iterator[Cluster]:
    yield from booted_cluster(request, settings, run_log, "bootstrap", Topology())
