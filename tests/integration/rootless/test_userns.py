"""The harness's network without root: a user + network namespace owned by a holder child, a
bridge with taps, bridge nftables faults through the ledger, TCP into it from a multithreaded
process through the relay, and a teardown (or a stale sweep) that leaves no process behind.

The bodies run as an unprivileged user (`unprivileged_body.py`); this side, root in CI, checks
independently that nothing of theirs is left: no process in their user namespace, no directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.rootless.conftest import Unprivileged
from tests.integration.rootless.namespaces import inside

pytestmark = pytest.mark.integration


def prefix() -> str:
    return f"fbrl{os.getpid() % 10000}"


def test_fabric_block_unblock_and_teardown_unprivileged(unprivileged: Unprivileged) -> None:
    report = unprivileged.run("fabric", prefix())
    assert report["mode"] == "rootless" and report["uid"] != 0
    assert report["setns_refused"], "a multithreaded process cannot setns: why the relay exists"
    assert report["tap_attached"], "a tap opened the way QEMU opens it: carrier up"
    assert "(timeout)" in report["blocked_connect"], report["blocked_connect"]
    assert report["established_cut"]
    assert "not answering" in report["after_teardown"]
    # The namespace held the holder, the relay, the tap user, the nested host's holder, two servers.
    assert report["inside_before_teardown"] >= 6
    assert inside(report["user_ns"]) == [], "teardown left processes in the user namespace"
    assert not Path(report["runtime_dir"]).exists()


def test_sweep_ends_what_a_sigkilled_run_left(unprivileged: Unprivileged) -> None:
    report = unprivileged.run("sweep", prefix())
    assert report["swept"] == [report["name"]]
    assert inside(report["user_ns"]) == [], "the sweep left processes in the user namespace"


def test_mode_is_rootless_unprivileged_and_root_cannot_be_forced(unprivileged: Unprivileged) -> None:
    report = unprivileged.run("modes")
    assert report["auto"] == "rootless"
    assert "needs euid 0" in report["forced_root"]
