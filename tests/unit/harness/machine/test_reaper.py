"""The reaper runs teardowns newest first, survives a failing one, and forgets unregistered."""

from __future__ import annotations

import signal
from types import FrameType

import pytest

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


def test_a_second_signal_during_teardown_does_not_cut_it_short() -> None:
    # Ctrl-C twice, or cluster-test forwarding a SIGINT the run also got: the second one used
    # to raise KeyboardInterrupt inside the first teardown and left QEMU and the namespace.
    reaper.teardown_all()
    order: list[str] = []
    chained: list[int] = []

    def previous(num: int, _frame: FrameType | None) -> None:
        chained.append(num)
        raise KeyboardInterrupt

    handler = reaper.chained_handler(previous)

    def node() -> None:
        order.append("node")
        handler(signal.SIGINT, None)  # the second signal, delivered mid-teardown

    reaper.register("fabric", lambda: order.append("fabric"))
    reaper.register("node", node)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)
    assert order == ["node", "fabric"]
    assert chained == [signal.SIGINT]  # acted on once, after everything was stopped


def test_an_interrupt_escaping_a_teardown_leaves_the_rest_registered() -> None:
    reaper.teardown_all()
    order: list[str] = []

    def interrupted() -> None:
        raise KeyboardInterrupt

    reaper.register("fabric", lambda: order.append("fabric"))
    reaper.register("node", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reaper.teardown_all()
    assert reaper.teardown_all() == ["fabric"]  # what atexit would still run
    assert order == ["fabric"]
