"""The reaper runs teardowns newest first, survives a failing one, and forgets unregistered."""

from __future__ import annotations

from harness.machine import reaper


def test_newest_first_and_failures_do_not_stop_the_rest() -> None:
    reaper.teardown_all()
    order: list[str] = []

    def bad() -> None:
        order.append("bad")
        raise RuntimeError("x")

    reaper.register("fabric", lambda: order.append("fabric"))
    reaper.register("bad", bad)
    token = reaper.register("gone", lambda: order.append("gone"))
    reaper.register("node", lambda: order.append("node"))
    reaper.unregister(token)
    assert reaper.teardown_all() == ["node", "bad", "fabric"]
    assert order == ["node", "bad", "fabric"]
    assert reaper.teardown_all() == []
