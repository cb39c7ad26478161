"""VM tier: NixOS test-driver scripts run unchanged through `cluster-test --script`."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("cluster-test runs QEMU in network namespaces: need root")
