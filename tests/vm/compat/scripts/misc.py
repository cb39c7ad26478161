# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/misc.nix (testScript, read at 044b684b): small checks of a
# booted system. Run with `--nodes 1` (`machine`).
#
# Upstream's node config is applied by the script first (`configure` below), because our image
# is the same for every test: the swap file, EDITOR, the tmpfiles rules, the fstab lines for the
# user mounts, the users, vm.swappiness. Substituted, and why:
# - nixos-version -> /etc/debian_version; uid/gid sanity -> Debian's static `sys` (3/3) instead
#   of NixOS's messagebus (4/4); /etc/mtab -> Debian's ../proc/self/mounts; `vsyscall=emulate`
#   -> `console=ttyS0`, a kernel parameter our nodes boot with.
# - The swap file lives on /var/lib (an ext4 disk): the root is an overlay in RAM, which
#   cannot hold swap. EDITOR is set for login shells (/etc/profile.d): commands come over one
#   SSH connection whose environment was fixed when it was opened.
# - mousedev is built into Debian's kernel; evdev is the input handler udev loads as a module.
# - Debian's /tmp rule has no age, so the 10-day rule upstream configures is written first.
# - `machine.shutdown` is only named, not called, upstream (no reboot happens); kept as is.
# Not adapted: nixos-rebuild (there is no on-node rebuild: the image is built on the host),
# automounting /tmp2 (the image's kernel modules lack autofs), NIX_PATH (no Nix on the node),
# sybil's passwordless sudo (no sudo in the image, and upstream never uses it).

CONFIGURE = r"""
dd if=/dev/zero of=/var/lib/swapfile bs=1M count=128 status=none
chmod 600 /var/lib/swapfile
mkswap /var/lib/swapfile >/dev/null
printf '[Swap]\nWhat=/var/lib/swapfile\n' > /run/systemd/system/var-lib-swapfile.swap
echo 'export EDITOR=emacs' > /etc/profile.d/editor.sh
echo 'd /tmp 1777 root root 10d' > /etc/tmpfiles.d/tmp.conf
echo 'd /tmp/somefile' > /etc/tmpfiles.d/10-test.conf
systemd-tmpfiles --create /etc/tmpfiles.d/10-test.conf
printf '%s\n' '/user-mount/source /user-mount/point none bind,rw,user,noauto 0 0' \
    '/user-mount/denied-source /user-mount/denied-point none bind,rw,noauto 0 0' >> /etc/fstab
useradd --create-home --gid users --shell /bin/bash alice
echo 'vm.swappiness = 1' > /etc/sysctl.d/90-misc.conf
systemctl daemon-reload
systemctl restart systemd-sysctl.service
systemctl start var-lib-swapfile.swap
"""

start_all()
machine.wait_for_unit("multi-user.target")
machine.succeed(CONFIGURE)

with subtest("debian_version (nixos-version)"):
    machine.succeed("[ `cat /etc/debian_version | wc -w` = 1 ]")

with subtest("Sanity check for uid/gid assignment"):
    assert "3" == machine.succeed("id -u sys").strip()
    assert "3" == machine.succeed("id -g sys").strip()
    assert "users:x:100:" == machine.succeed("getent group users").strip()

with subtest("Regression test for GMP aborts on QEMU."):
    machine.succeed("expr 1 + 2")

with subtest("the swap file got created"):
    machine.wait_for_unit("var-lib-swapfile.swap")
    machine.succeed("ls -l /var/lib/swapfile | grep 134217728")

with subtest("whether kernel.poweroff_cmd is set"):
    machine.succeed('[ -x "$(cat /proc/sys/kernel/poweroff_cmd)" ]')

with subtest("whether the io cgroupv2 controller is properly enabled"):
    machine.succeed("grep -q '\\bio\\b' /sys/fs/cgroup/cgroup.controllers")

with subtest("whether we have a reboot record in wtmp"):
    machine.shutdown  # noqa: B018 (upstream names it without calling it)
    machine.wait_for_unit("multi-user.target")
    machine.succeed("last | grep reboot >&2")

with subtest("whether we can override environment variables"):
    machine.succeed("bash -lc '[ \"$EDITOR\" = emacs ]'")

with subtest("whether hostname (and by extension nss_myhostname) works"):
    assert "node01" == machine.succeed("hostname").strip()
    assert "node01" == machine.succeed("hostname -s").strip()

with subtest("whether systemd-udevd automatically loads modules for our hardware"):
    machine.succeed("systemctl start systemd-udev-settle.service")
    machine.wait_for_unit("systemd-udev-settle.service")
    assert "evdev" in machine.succeed("lsmod")

with subtest("whether systemd-tmpfiles-clean works"):
    machine.succeed("touch /tmp/foo", "systemctl start systemd-tmpfiles-clean", "[ -e /tmp/foo ]")
    # move into the future
    machine.succeed(
        'date -s "@$(($(date +%s) + 1000000))"',
        "systemctl start systemd-tmpfiles-clean",
    )
    machine.fail("[ -e /tmp/foo ]")

with subtest("whether systemd-tmpfiles settings works"):
    machine.succeed("[ -e /tmp/somefile ]")

with subtest("/etc/mtab"):
    assert "../proc/self/mounts" == machine.succeed("readlink --no-newline /etc/mtab")

with subtest("Whether mounting by a user is possible with the `user` option in fstab (#95444)"):
    machine.succeed("mkdir -p /user-mount/source")
    machine.succeed("touch /user-mount/source/file")
    machine.succeed("chmod -R a+Xr /user-mount/source")
    machine.succeed("mkdir /user-mount/point")
    machine.succeed("chown alice:users /user-mount/point")
    machine.succeed("su - alice -c 'mount /user-mount/point'")
    machine.succeed("su - alice -c 'ls /user-mount/point/file'")
with subtest("Whether mounting by a user is denied without the `user` option in  fstab"):
    machine.succeed("mkdir -p /user-mount/denied-source")
    machine.succeed("touch /user-mount/denied-source/file")
    machine.succeed("chmod -R a+Xr /user-mount/denied-source")
    machine.succeed("mkdir /user-mount/denied-point")
    machine.succeed("chown alice:users /user-mount/denied-point")
    machine.fail("su - alice -c 'mount /user-mount/denied-point'")

with subtest("Test sysctl"):
    machine.wait_for_unit("systemd-sysctl.service")
    assert "1" == machine.succeed("sysctl -ne vm.swappiness").strip()
    machine.execute("sysctl vm.swappiness=60")
    assert "60" == machine.succeed("sysctl -ne vm.swappiness").strip()

with subtest("Test boot parameters"):
    assert "console=ttyS0" in machine.succeed("cat /proc/cmdline")
