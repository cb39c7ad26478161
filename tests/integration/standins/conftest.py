"""Fixtures: stand-in clusters on 127.0.1.x, each test with its own dirs and ports; every
process started is stopped (SIGTERM, then SIGKILL) in teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from standins.contract import Service
from standins.launcher import LocalCluster

ClusterFactory = Callable[..., LocalCluster]


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[ClusterFactory]:
    made: list[LocalCluster] = []

    def factory(service: Service, size_hint: int = 6, **kwargs: Any) -> LocalCluster:
        cluster = LocalCluster(service, tmp_path / f"{service}-{len(made)}", size_hint, **kwargs)
        made.append(cluster)
        return cluster

    yield factory
    for cluster in made:
        cluster.close()
