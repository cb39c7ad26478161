"""What the scenario modules share about their lab's life: booting a module's cluster, the
chain of steps its tests build on, the end of a fault lab (heal, save the fault record, keep
or tear down), and the report directory. Regular code, imported by the test modules and by
conftest.py (which holds only fixtures and hooks); test modules never import conftest or each
other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.cluster import Cluster
from harness.cluster.topology import Topology
from harness.faults import Faults
from harness.log import RunLog
from harness.scenarios.settings import Keep, RunSettings


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


def report_dir(settings: RunSettings, name: str) -> Path:
    path = settings.run_dir / name
    path.mkdir(parents=True, exist_ok=True)
    return path
