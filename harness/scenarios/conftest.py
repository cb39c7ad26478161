"""Fixtures for the scenarios. The run's outcome file, which `cluster-test` turns into its exit
code, is written by the `harness.scenarios.outcomes` plugin, registered here."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.topology import Topology
from harness.faults import Faults
from harness.log import RunLog
from harness.scenarios import outcomes
from harness.scenarios.settings import Keep, RunSettings
from harness.waits import MIN_ATTEMPT

OPERATIONAL_BASE = 120.0
"""Base budget (x the slowness factor, see `Cluster.budget`) for every node's first boot to be done."""
STATUS_SLACK = 10.0
"""`fba status --wait` gets this much less than the SSH command, so it reports before the cut."""


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


def booted_cluster(
    request: pytest.FixtureRequest, settings: RunSettings, run_log: RunLog, name: str, topology: Topology
) -> Iterator[Cluster]:
    """Boot a cluster for a test module; keep it up afterwards when asked to."""
    cluster = Cluster(settings.cluster_options(name, topology), run_log)
    try:
        cluster.up()
        cluster.start_all()
        cluster.wait_ready()
        yield cluster
    finally:
        keep_or_down(request, settings, cluster)


def keep_or_down(request: pytest.FixtureRequest, settings: RunSettings, cluster: Cluster) -> None:
    """`--keep` keeps the cluster, `--keep-on-failure` when a test failed; else tear it down."""
    failed = request.session.testsfailed > 0
    if settings.keep is Keep.ALWAYS or (settings.keep is Keep.ON_FAILURE and failed):
        cluster.print_attach()
    else:
        cluster.down()


class StepChain:
    """Mixin for a scenario module's lab: tests record the steps they completed in `done`
    (a field of the dataclass), and a test that builds on earlier steps skips, naming them,
    when one did not complete."""

    done: set[str]

    def require(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"needs the state left by {', '.join(missing)}, which did not complete")


def finish_lab(
    request: pytest.FixtureRequest,
    settings: RunSettings,
    run_log: RunLog,
    cluster: Cluster,
    faults: Faults | None,
    name: str,
    *,
    heal: bool = True,
) -> None:
    """End of a fault scenario module: heal what is still injected, save the fault record next
    to the report, then keep or tear down the cluster."""
    if faults is not None:
        if heal:
            try:
                faults.heal_all()
            except Exception as err:  # the cluster goes down anyway; say why healing failed
                run_log.log(f"healing at teardown failed: {err}")
        out = report_dir(settings, name)
        (out / "faults.json").write_text(json.dumps(faults.recorder.as_json(), indent=2) + "\n")
    keep_or_down(request, settings, cluster)


def wait_operational(
    cluster: Cluster, names: list[str] | None = None, *, base: float = OPERATIONAL_BASE
) -> dict[str, Any]:
    """`fba status --wait` in every guest (our own bounded status command, dogfooded), all
    within one scaled budget: each node gets what the ones before it left."""
    states = {}
    end = time.monotonic() + cluster.budget(base)
    for name in names or list(cluster.nodes):
        left = max(MIN_ATTEMPT, end - time.monotonic())
        out = cluster[name].succeed(
            f"fba status --wait --timeout {max(1.0, left - STATUS_SLACK):.0f} --format json || true",
            timeout=left,
        )
        states[name] = json.loads(out.strip().splitlines()[-1])
    return states


@pytest.fixture(scope="module")
def bootstrap_cluster(request: pytest.FixtureRequest, settings: RunSettings, run_log: RunLog) -> Iterator[Cluster]:
    yield from booted_cluster(request, settings, run_log, "bootstrap", Topology())


def report_dir(settings: RunSettings, name: str) -> Path:
    path = settings.run_dir / name
    path.mkdir(parents=True, exist_ok=True)
    return path
