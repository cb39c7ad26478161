"""One real guest as an unprivileged user (issue 14, "Rootless, like the driver", step 1):
QEMU in the harness's user + network namespace, on a tap of its bridge, console and QMP, crash,
teardown. The body runs as `nobody` (`tests/integration/rootless/unprivileged_body.py vm`);
this side, root in CI, checks independently that nothing of it is left."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest

from tests.integration.rootless.conftest import Unprivileged, unprivileged  # noqa: F401  (fixture)
from tests.integration.rootless.namespaces import inside

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("no_leaks")]


def test_a_busybox_guest_boots_and_is_torn_down_unprivileged(
    unprivileged: Unprivileged,  # noqa: F811
    kernel: Path,
    busybox_initrd: Path,
) -> None:
    # The kernel in /boot is 0600 root on Debian, pytest's tmp dirs 0700: copies nobody can read.
    boot = unprivileged.workdir / "boot"
    boot.mkdir()
    for source in (kernel, busybox_initrd):
        shutil.copyfile(source, boot / source.name)
        (boot / source.name).chmod(0o644)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(boot, nobody.pw_uid, nobody.pw_gid)

    report = unprivileged.run("vm", f"fbrv{os.getpid() % 10000}", str(boot / kernel.name),
                              str(boot / busybox_initrd.name), timeout=600)  # fmt: skip

    print(f"\nrootless busybox guest: boot {report['boot_s']} s, teardown {report['teardown_s']:.2f} s")
    assert report["uid"] != 0 and report["mode"] == "rootless", report
    assert report["qemu_in_userns"], "QEMU ran outside the run's user namespace"
    assert report["paused"] == "paused" and "running" in report["monitor"], report
    assert report["qemu_gone"] and report["console_kept"], report
    assert inside(report["user_ns"]) == [], "teardown left processes in the user namespace"
    assert not Path(report["runtime_dir"]).exists()
