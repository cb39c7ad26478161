"""One real guest (busybox initramfs, TCG): console, QMP, crash, teardown, no leaks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.errors import KvmUnavailable, UnsupportedVerb
from harness.machine.accel import Accel, choose_accel
from harness.machine.config import NodeConfig
from harness.machine.node import Node
from harness.machine.qemu import DirectBoot, TapNic
from harness.network import Fabric
from harness.network.netns import NETNS_DIR, list_netns

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("no_leaks")]
PREFIX = f"fbvm{os.getpid() % 10000}"
READY = r"BUSYBOX-READY"
REPO = Path(__file__).resolve().parents[4]


def qemu_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True, text=True,
                         check=False).stdout  # fmt: skip
    return {int(p) for p in out.split()}


def busybox_node(fabric: Fabric, tmp: Path, kernel: Path, initrd: Path) -> Node:
    cfg = NodeConfig(
        name="node01", state_dir=tmp / "node01", memory_mb=256,
        boot=DirectBoot(kernel, initrd, "rdinit=/init quiet"),
        tap=TapNic(fabric.port("node01"), "52:54:00:77:00:11"), launch_prefix=fabric.exec_prefix,
    )  # fmt: skip
    return Node(cfg, link=fabric, sock_factory=fabric.connect)


def test_require_kvm_fails_fast_or_kvm_works(kernel: Path, tmp_path: Path) -> None:
    begin = time.monotonic()
    try:
        choice = choose_accel(kernel, require_kvm=True, cache_dir=tmp_path)
    except KvmUnavailable as err:
        assert time.monotonic() - begin < 5.0, "require_kvm must fail within 5 s"
        assert "KVM required but unusable" in str(err)
    else:
        assert choice.accel is Accel.KVM
    assert choose_accel(kernel, cache_dir=tmp_path).cached


def test_boot_console_qmp_crash_and_teardown(kernel: Path, busybox_initrd: Path, tmp_path: Path) -> None:
    before = qemu_pids()
    with Fabric(["node01"], prefix=PREFIX) as fabric:
        node = busybox_node(fabric, tmp_path, kernel, busybox_initrd)
        begin = time.monotonic()
        node.start()
        assert node.booted
        node.wait_for_console_text(READY, timeout=120)
        print(f"\nboot to console READY under TCG: {time.monotonic() - begin:.1f} s")

        node.send_console("echo hello-$((6*7))\n")
        node.wait_for_console_text(r"hello-42", timeout=30)

        node.qmp.stop()
        assert node.qmp.query_status()["status"] == "paused"
        assert node.wait_for_qmp_event({"event": "STOP"}, timeout=10)["event"] == "STOP"
        node.qmp.cont()
        assert "running" in node.send_monitor_command("info status")

        with pytest.raises(UnsupportedVerb, match="screenshot"):
            node.screenshot("x")

        pid = node.pid
        begin = time.monotonic()
        node.crash()
        print(f"crash (QMP quit) to process gone: {time.monotonic() - begin:.2f} s")
        assert not node.booted and pid is not None and not Path(f"/proc/{pid}").exists()
        assert "BUSYBOX-READY" in node.get_console_log()
    assert fabric.teardown_seconds is not None and fabric.teardown_seconds < 10
    assert fabric.name not in list_netns()
    assert qemu_pids() <= before


def test_guest_poweroff_ends_qemu_and_restart_appends_console(
    kernel: Path, busybox_initrd: Path, tmp_path: Path
) -> None:
    with Fabric(["node01"], prefix=PREFIX) as fabric:
        node = busybox_node(fabric, tmp_path, kernel, busybox_initrd)
        node.start()
        node.wait_for_console_text(READY, timeout=120)
        node.send_console("poweroff -f\n")
        node.wait_for_shutdown(timeout=60)
        assert not node.booted
        node.start()  # a second boot: the file keeps both, get_console_log() the last (as the driver)
        node.wait_for_console_text(READY, timeout=120)
        assert node.get_console_log().count("BUSYBOX-READY") == 1
        console_file = node.config.state_dir / "console.log"
        assert console_file.read_text(errors="replace").count("BUSYBOX-READY") == 2
        node.crash()


def test_fabric_teardown_kills_a_running_vm(kernel: Path, busybox_initrd: Path, tmp_path: Path) -> None:
    with Fabric(["node01"], prefix=PREFIX) as fabric:
        node = busybox_node(fabric, tmp_path, kernel, busybox_initrd)
        node.start()
        pid = node.pid
    assert pid is not None and not Path(f"/proc/{pid}/exe").exists()
    node.crash()  # idempotent after the fabric took QEMU down


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from harness.network import Fabric
    from harness.machine.config import NodeConfig
    from harness.machine.node import Node
    from harness.machine.qemu import DirectBoot, TapNic
    kernel, initrd, tmp, prefix = sys.argv[1:5]
    fabric = Fabric(["node01"], prefix=prefix).__enter__()
    node = Node(NodeConfig(name="node01", state_dir=Path(tmp), memory_mb=256,
                           boot=DirectBoot(Path(kernel), Path(initrd), "rdinit=/init quiet"),
                           tap=TapNic(fabric.port("node01"), "52:54:00:77:00:11"),
                           launch_prefix=fabric.exec_prefix))
    node.start()
    print(fabric.name, node.pid, flush=True)
    for _ in range(1200):
        time.sleep(0.1)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_harness_leaves_no_vm_and_no_namespace(
    kernel: Path, busybox_initrd: Path, tmp_path: Path, signum: int
) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(kernel), str(busybox_initrd),
                              str(tmp_path / "n"), PREFIX], cwd=REPO, stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    assert child.stdout is not None
    name, pid = child.stdout.readline().split()
    assert Path(f"/proc/{pid}").exists() and (NETNS_DIR / name).exists()
    begin = time.monotonic()
    child.send_signal(signum)
    child.wait(timeout=20)
    took = time.monotonic() - begin
    print(f"\nteardown after signal {signum}: {took:.2f} s")
    assert took < 10
    assert not Path(f"/proc/{pid}/exe").exists()
    assert not (NETNS_DIR / name).exists()
