"""The initramfs around the squashfs root: skeleton, /init, busybox, console; and /init's
failure line is one the harness treats as fatal."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.image.contract import FATAL_CONSOLE_PATTERN
from harness.image.kernel import HostKernel
from harness.image.rootfs import INIT_SCRIPT, INITRAMFS_DIR, directories, file_list, initramfs_tree, tidy

NO_KERNEL = HostKernel("0.0.0-test", Path("/nonexistent/vmlinuz"), Path("/nonexistent/modules"))


def fake_rootfs(root: Path) -> None:
    for rel, mode in (("usr/bin", 0o755), ("usr/lib", 0o755), ("root", 0o700), ("tmp", 0o1777),
                      ("etc/ssh", 0o755), ("var/lib/dbus", 0o755), ("dev", 0o755)):  # fmt: skip
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel).chmod(mode)
    (root / "usr/bin/busybox").write_bytes(b"\x7fELF fake busybox")
    (root / "bin").symlink_to("usr/bin")
    (root / "lib").symlink_to("usr/lib")
    (root / "etc/hostname").write_text("build-host\n")
    (root / "etc/machine-id").write_text("0123\n")
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("secret\n")
    (root / "init").symlink_to("/lib/systemd/systemd")


@pytest.mark.skipif(os.geteuid() != 0, reason="the skeleton has /dev/console: mknod needs root")
def test_initramfs_tree_has_skeleton_with_modes_links_console_init_and_busybox(tmp_path: Path) -> None:
    root, tree = tmp_path / "rootfs", tmp_path / "tree"
    fake_rootfs(root)
    tidy(root)
    initramfs_tree(root, directories(root), tree, NO_KERNEL, ())
    assert stat.S_IMODE((tree / "root").stat().st_mode) == 0o700
    assert stat.S_IMODE((tree / "tmp").stat().st_mode) == 0o1777
    assert os.readlink(tree / "bin") == "usr/bin" and os.readlink(tree / "lib") == "usr/lib"
    console = (tree / "dev" / "console").lstat()
    assert stat.S_ISCHR(console.st_mode) and os.major(console.st_rdev) == 5 and os.minor(console.st_rdev) == 1
    init = tree / "init"
    assert init.read_bytes() == INIT_SCRIPT.read_bytes() and os.access(init, os.X_OK)
    assert init.read_text().startswith(f"#!/{INITRAMFS_DIR}/busybox sh\n")
    assert (tree / INITRAMFS_DIR / "busybox").read_bytes() == b"\x7fELF fake busybox"
    # The skeleton carries directories only: the root's files live in the squashfs.
    assert not (tree / "etc" / "hostname").exists() and (tree / "etc" / "ssh").is_dir()
    members = file_list(tree).split(b"\0")
    assert b"init" in members and b"dev/console" in members
    assert members.index(b"etc") < members.index(b"etc/ssh")


def test_tidy_drops_host_leftovers_and_the_old_init_link(tmp_path: Path) -> None:
    fake_rootfs(tmp_path)
    tidy(tmp_path)
    assert (tmp_path / "etc/hostname").read_text() == "fba-node\n"
    assert (tmp_path / "etc/machine-id").read_text() == ""
    assert not (tmp_path / "etc/ssh/ssh_host_ed25519_key").exists()
    assert not (tmp_path / "init").is_symlink()


def test_every_fatal_line_of_the_init_script_matches_the_harness_fatal_pattern() -> None:
    script = INIT_SCRIPT.read_text()
    assert 'echo "FBA-INIT FATAL: $*"' in script
    assert FATAL_CONSOLE_PATTERN.search("FBA-INIT FATAL: cannot mount /fba-initramfs/root.squashfs")
    assert "set -e" not in script  # each step fails through `fatal`, with its reason
