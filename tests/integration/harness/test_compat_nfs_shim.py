"""The NFS stand-in of tests/vm/compat/scripts/nfs_lock.py (`NETFLOCK`), run on this host over
loopback: what nfs_lock.py relies on, checked in seconds instead of in a 3-node boot.

A holder keeps the others out; a waiter gets the lock once the holder dies; a restarted
server lets the holder reclaim its lock in the grace period and refuses new claims until then;
writes go to the export as the clients see it (/data/NAME). Every process is in its own
session and is killed by its group id at the end.
"""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "vm/compat/scripts/nfs_lock.py"
# Seconds. A client retries once a second and a loaded 2-core host needs ~1-2 s to start one:
# the holder's reclaim after a server restart must fit inside the grace with margin.
GRACE = 8.0


def netflock_source() -> str:
    for node in ast.parse(SCRIPT.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["NETFLOCK"]:
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError(f"{SCRIPT} has no NETFLOCK = '''...'''")


class Shim:
    def __init__(self, tmp: Path) -> None:
        self.tool = tmp / "netflock.py"
        self.tool.write_text(netflock_source())
        self.export = tmp / "export"
        self.export.mkdir()
        self.cwd = tmp
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.env = {**os.environ, "NETFLOCK_PORT": str(port), "NETFLOCK_GRACE": str(GRACE)}
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, str(self.tool), *args], cwd=self.cwd, env=self.env,
                                start_new_session=True, stdout=subprocess.DEVNULL)  # fmt: skip
        self.started.append(proc)
        return proc

    def run(self, *args: str, data: bytes = b"", timeout: float = 20) -> tuple[int, float]:
        begin = time.monotonic()
        done = subprocess.run([sys.executable, str(self.tool), *args], cwd=self.cwd, env=self.env, input=data,
                              capture_output=True, timeout=timeout, check=False)  # fmt: skip
        return done.returncode, time.monotonic() - begin

    def serve(self) -> subprocess.Popen[bytes]:
        server = self.spawn("serve", str(self.export))
        self.wait_for(self._answers)
        return server

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", int(self.env["NETFLOCK_PORT"])), timeout=1):
                return True
        except OSError:
            return False

    @staticmethod
    def wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.started:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


@pytest.fixture
def shim(tmp_path: Path) -> Iterator[Shim]:
    made = Shim(tmp_path)
    try:
        yield made
    finally:
        made.close()


def test_the_nfs_stand_in_does_what_nfs_lock_py_relies_on(shim: Shim) -> None:
    server = shim.serve()
    lock = "127.0.0.1:/data/lock"

    # writes land in the export as the clients see it (/data/foo is EXPORT/foo)
    assert shim.run("put", "w", "127.0.0.1:/data/foo", data=b"bla\n")[0] == 0
    assert shim.run("put", "a", "127.0.0.1:/data/foo", data=b"bla\n")[0] == 0
    assert (shim.export / "foo").read_text() == "bla\nbla\n"

    # a new claim waits out the grace period of a fresh server, then gets the lock
    rc, took = shim.run("flock", "-n", "-s", lock, "true")
    assert rc == 0 and took >= GRACE - 0.5, took

    # a holder keeps the others out; a waiter gets the lock when the holder dies
    holder = shim.spawn("flock", "-x", lock, "-c", "touch locked; sleep 600")
    shim.wait_for(lambda: (shim.cwd / "locked").exists())
    assert shim.run("flock", "-n", "-s", lock, "true")[0] == 1
    shim.spawn("flock", "-x", lock, "-c", "touch locked2; sleep 600")
    assert shim.run("flock", "-n", "-s", lock, "true")[0] == 1  # a full round trip after the waiter's start
    assert not (shim.cwd / "locked2").exists(), "the waiter got the lock while it was held"
    shim.kill(holder)
    shim.wait_for(lambda: (shim.cwd / "locked2").exists())

    # a restarted server: the holder reclaims its lock, a new claim waits out the grace, then fails
    shim.kill(server)
    server = shim.serve()
    rc, took = shim.run("flock", "-n", "-s", lock, "true")
    assert rc == 1 and took >= GRACE - 0.5, (rc, took)
    assert shim.run("put", "a", "127.0.0.1:/data/xyzzy")[0] == 0
    assert (shim.export / "xyzzy").exists()
