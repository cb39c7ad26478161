# Netboot image base: NixOS's netboot (bzImage + initrd carrying the squashfs store), SSH by
# key only, console on ttyS0, and per-node files injected through QEMU's fw_cfg.
#
# fw_cfg contract (docs/nix.md, docs/images.md): the harness's blob `opt/fba/inject` is the
# JSON document `fba-inject/1` (harness/image/inject.py). fba-inject.service runs the same
# guest program as the Debian image (harness/image/guest/fba-inject.py, package
# `fba-inject`) before the network and sshd start; it writes cluster-config.json and the
# TLS files into the secrets dir (0600), root's authorized_keys beside them, the hostname,
# /etc/hosts, the cluster NIC's networkd file (matched by MAC) and the units' EnvironmentFile.
{
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  units = import ../nix/lib/units.nix { };
  # harness/image/contract.py FW_CFG_NAME; tests/integration/nix checks the two agree.
  fwCfgName = "opt/fba/inject";
  # Beside cluster-config.json, as on the installed nodes (vms/common.nix).
  authorizedKeys = "${units.graph.secretsDir}/authorized_keys";
in
{
  imports = [
    (modulesPath + "/installer/netboot/netboot.nix")
    (modulesPath + "/profiles/minimal.nix")
    (modulesPath + "/profiles/qemu-guest.nix")
  ];

  boot.kernelParams = [ "console=ttyS0,115200n8" ];
  boot.kernelModules = [ "qemu_fw_cfg" ];

  # One image for every node: the name comes from the blob (/etc/hostname stays unmanaged).
  networking.hostName = "";
  networking.useNetworkd = true;
  networking.useDHCP = lib.mkDefault true;
  # A plain file rather than a link into the store: fba-inject replaces it with the cluster's.
  environment.etc.hosts.mode = "0644";

  services.openssh = {
    enable = true;
    openFirewall = true;
    authorizedKeysFiles = [ authorizedKeys ];
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "prohibit-password";
    };
  };
  users.mutableUsers = false;
  users.users.root.hashedPassword = "!"; # no password login anywhere, console included
  # Root's keys arrive at boot (authorized_keys above), so nothing in the configuration can
  # show NixOS a key: users-groups.nix's lock-out assertion (immutable users, no root/wheel
  # password or declared key) would stop the build. This is the switch NixOS gives for
  # exactly that; the key file is the only way in, and sshd refuses passwords.
  users.allowNoPasswordLogin = true;

  # The Debian image's unit (harness/image/guest/units/fba-inject.service.in) in NixOS terms.
  systemd.services.fba-inject = {
    description = "FBA: write this node's files from the fw_cfg blob ${fwCfgName}";
    unitConfig.DefaultDependencies = false;
    conflicts = [ "shutdown.target" ];
    # qemu_fw_cfg comes from boot.kernelModules (systemd-modules-load); tmpfiles made the
    # secrets dir; the program itself waits a few seconds for the sysfs file to appear.
    after = [
      "systemd-udevd.service"
      "systemd-modules-load.service"
      "systemd-tmpfiles-setup.service"
    ];
    # sysinit.target: every normal unit (the automation, the services) starts after it.
    before = [
      "sysinit.target"
      "shutdown.target"
      "network-pre.target"
      "systemd-networkd.service"
      "sshd.service"
    ];
    wants = [ "network-pre.target" ];
    wantedBy = [ "sysinit.target" ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      ExecStart = toString [
        (lib.getExe pkgs.fba-inject)
        "--source /sys/firmware/qemu_fw_cfg/by_name/${fwCfgName}/raw"
        "--secrets-dir ${units.graph.secretsDir}"
        "--env-file ${units.graph.environmentFile}"
        "--network-file /run/systemd/network/10-fba-cluster.network"
        "--authorized-keys ${authorizedKeys}"
      ];
      StandardOutput = "journal+console";
      TimeoutStartSec = 60;
    };
  };

  # Persistent /var/lib on the disk the harness attaches (virtio serial `varlib`), formatted
  # and filled from the image's /var/lib on first use: the same script and order as the
  # Debian image's fba-varlib.service, so the automation's markers survive a reboot.
  systemd.services.fba-varlib = {
    description = "FBA: persistent /var/lib on the disk with serial varlib";
    unitConfig.DefaultDependencies = false;
    conflicts = [ "shutdown.target" ];
    after = [
      "systemd-udev-trigger.service"
      "systemd-udevd.service"
    ];
    wants = [ "systemd-udev-trigger.service" ];
    before = [
      "local-fs.target"
      "systemd-random-seed.service"
      "systemd-tmpfiles-setup.service"
      "shutdown.target"
    ];
    wantedBy = [ "local-fs.target" ];
    path = [
      pkgs.util-linux # blkid, mount, umount
      pkgs.e2fsprogs # mkfs.ext4
    ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      ExecStart = "${pkgs.runtimeShell} ${../harness/image/guest/fba-varlib.sh}";
      StandardOutput = "journal+console";
      TimeoutStartSec = 120;
    };
  };

  # The harness waits for this console line (harness/image/contract.py READY_PATTERN); the
  # same script as the Debian image's fba-ready.service. NixOS puts coreutils and systemd
  # on every unit's PATH; the rest of what the script calls is listed here.
  systemd.services.fba-ready = {
    description = "FBA: announce readiness on the serial console";
    after = [ "multi-user.target" ];
    wantedBy = [ "multi-user.target" ];
    path = [
      pkgs.util-linux # mountpoint
      pkgs.gawk
    ];
    # simple: its start job completes at once, so `is-system-running --wait` does not wait for it
    serviceConfig = {
      Type = "simple";
      ExecStart = "${pkgs.runtimeShell} ${../harness/image/guest/fba-ready.sh}";
    };
  };

  system.stateVersion = "25.05";
}
