"""`vms/node0N/run.sh` (harness.boot_one) in QEMU: one node booted by hand, as cluster-test
boots it, with the serial console on a terminal; Ctrl-] ends it and nothing is left.

(`--keep`, `cluster-test ssh` and `cluster-test down` ride on a compat boot:
tests/vm/compat/test_compat_scripts.py.)
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm

ROOT = Path(__file__).resolve().parents[3]
RUN_SH = ROOT / "vms" / "node01" / "run.sh"
CLUSTER_TEST = Path(sys.executable).parent / "cluster-test"
# The header up to the console-log line: matching only the namespace raced the rest of it.
NAMESPACE = re.compile(r"in namespace (fba-\S+)\r?\n(?:.*\n)*?\s*console log: \S+")


@pytest.fixture(autouse=True)
def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("boot_one runs QEMU in a network namespace: need root")


def namespaces() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def read_until(fd: int, pattern: re.Pattern[str], timeout: float, seen: list[str]) -> re.Match[str] | None:
    """Read the pty into `seen` until `pattern` matches the text so far or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            seen.append(chunk.decode(errors="replace"))
        found = pattern.search("".join(seen))
        if found:
            return found
    return pattern.search("".join(seen))


def test_run_sh_console_on_a_terminal_and_ctrl_close_bracket_ends_it(tmp_path: Path) -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen([str(RUN_SH), "--nodes", "1", "--report", str(tmp_path / "run")],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)  # fmt: skip
    os.close(slave)
    seen: list[str] = []
    try:
        header = read_until(master, NAMESPACE, 60, seen)
        assert header is not None, "".join(seen)
        namespace = header.group(1)
        assert f"cluster-test --report {tmp_path / 'run'} ssh node01" in "".join(seen)
        login = read_until(master, re.compile(r"node01 login:"), 300, seen)
        assert login is not None, "no login prompt on the terminal:\n" + "".join(seen)[-2000:]
        assert (tmp_path / "run" / "attach.json").exists()
        done = subprocess.run([str(CLUSTER_TEST), "--report", str(tmp_path / "run"), "ssh", "node01", "--", "hostname"],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert (done.returncode, done.stdout.strip()) == (0, "node01"), done.stderr
        begin = time.monotonic()
        os.write(master, b"\x1d")  # Ctrl-]
        rc = proc.wait(timeout=30)
        print(f"\nCtrl-] to torn down: {time.monotonic() - begin:.1f} s")
        read_until(master, re.compile(r"namespace removed"), 5, seen)
        assert rc == 0, "".join(seen)[-2000:]
        assert namespace not in namespaces()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        os.close(master)
