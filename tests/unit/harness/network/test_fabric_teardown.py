"""A fabric takes its own pieces down: `teardown()` tries every process and namespace even when
one fails and then says what failed; `release()` (for `--keep`) only forgets the reaper
registration. No namespace is made: `ip` and `delete_netns` are faked."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from harness.errors import InfrastructureError, TeardownError
from harness.machine import reaper
from harness.network import fabric as fabric_module
from harness.network.fabric import Fabric


class StuckHelper:
    """A spawned helper whose kill fails."""

    pid = 99

    def poll(self) -> None:
        return None

    def kill(self) -> None:
        raise PermissionError("not allowed")

    def wait(self, timeout: float) -> int:
        raise subprocess.TimeoutExpired("helper", timeout)


@pytest.fixture
def deleted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fake `ip` (every command succeeds) and record `delete_netns` calls; a host namespace's
    deletion times out, the main one's leaves pid 777 alive."""
    names: list[str] = []

    def fake_run(argv: Sequence[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    def fake_delete(name: str) -> list[int]:
        names.append(name)
        if name.endswith("-svc"):
            raise InfrastructureError("`ip netns del` could not run: timed out")
        return [777]

    monkeypatch.setattr(fabric_module, "run", fake_run)
    monkeypatch.setattr(fabric_module, "delete_netns", fake_delete)
    reaper.teardown_all()
    return names


def test_teardown_tries_every_part_and_reports_what_failed(deleted: list[str]) -> None:
    fabric = Fabric(["node01"], prefix="fbunit", mode="root")
    fabric.up()
    host_ns = fabric.add_veth_host("svc", "10.77.0.9/24")
    fabric._procs.append(StuckHelper())  # type: ignore[arg-type]
    with pytest.raises(TeardownError) as info:
        fabric.teardown()
    assert deleted == [host_ns, fabric.name]
    assert info.value.failures == [
        "kill pid 99: not allowed",
        f"namespace {host_ns}: `ip netns del` could not run: timed out",
        f"namespace {fabric.name}: pids 777 survived SIGKILL (stuck in the kernel?)",
    ]
    assert str(info.value).startswith(f"fabric {fabric.name}: teardown: kill pid 99: not allowed; ")
    assert not fabric.is_up and reaper.teardown_all() == [], "torn down: nothing left for the reaper"
    fabric.teardown()  # idempotent: no second attempt, no second report
    assert deleted == [host_ns, fabric.name]


def test_release_forgets_the_reaper_registration_and_keeps_the_fabric(deleted: list[str]) -> None:
    fabric = Fabric(["node01"], prefix="fbunit", mode="root")
    fabric.up()
    fabric.release()
    fabric.release()  # idempotent
    assert fabric.is_up and deleted == []
    assert reaper.teardown_all() == [], "released: interpreter exit must not delete it"
    with pytest.raises(TeardownError):  # the fake leaves pid 777 behind
        fabric.teardown()  # what `down()` does later: a released fabric still goes
    assert deleted == [fabric.name]


def test_release_of_a_fabric_never_up_does_nothing(deleted: list[str]) -> None:
    fabric = Fabric(prefix="fbunit", mode="root")
    fabric.release()
    fabric.teardown()
    assert deleted == [] and reaper.teardown_all() == []
