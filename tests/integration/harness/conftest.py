"""Integration tier for the harness: real namespaces, needs root."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN)")
