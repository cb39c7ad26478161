"""`die_with_parent`: a child the harness starts is signalled when the harness is SIGKILLed, so a
killed run leaves no QEMU (or pytest run) behind; off the main thread there is no tie."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from harness.machine.process import die_with_parent
from harness.network.netns import alive

PARENT = """
import subprocess, sys
from harness.machine.process import die_with_parent
child = subprocess.Popen(["sleep", "120"], start_new_session=True, preexec_fn=die_with_parent())
print(child.pid, flush=True)
sys.stdin.read()  # until the test kills us
"""


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_a_child_in_its_own_session_dies_with_its_sigkilled_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert alive(child)
        parent.kill()
        parent.wait(timeout=10)
        assert wait_gone(child, 10), f"sleep (pid {child}) outlived its SIGKILLed parent by 10 s"
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_off_the_main_thread_there_is_no_tie() -> None:
    # The kernel signals the child when the forking *thread* ends: a worker thread's child would
    # be killed as soon as that thread finished.
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(die_with_parent()))
    worker.start()
    worker.join(timeout=10)
    assert seen == [None]
    assert callable(die_with_parent())
