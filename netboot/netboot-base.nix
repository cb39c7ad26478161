# Netboot image base: NixOS's netboot (bzImage + initrd carrying the squashfs store), SSH by
# key only, console on ttyS0, and per-node files injected through QEMU's fw_cfg.
#
# fw_cfg contract (docs/nix.md): the blob `opt/fba/inject` is a tar archive (< 100 KiB) that
# fba-inject.service unpacks into /run/fba-inject before the network and sshd start:
#   cluster-config.json, TLS files   installed into the secrets dir by `fba provision`
#   authorized_keys                  root's SSH keys
#   hostname, hosts                  the node's name, lines appended to /etc/hosts
#   network/*.network                systemd-networkd files (e.g. the static cluster address)
#   env                              KEY=VALUE lines for the automation units
{
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  units = import ../nix/lib/units.nix { };
  fwCfgName = "opt/fba/inject"; # harness/machine/qemu.py: QemuSpec.fw_cfg_name
  injectDir = "/run/fba-inject";
in
{
  imports = [
    (modulesPath + "/installer/netboot/netboot.nix")
    (modulesPath + "/profiles/minimal.nix")
    (modulesPath + "/profiles/qemu-guest.nix")
  ];

  boot.kernelParams = [ "console=ttyS0,115200n8" ];
  boot.kernelModules = [ "qemu_fw_cfg" ];

  # One image for every node: the name comes from the injected `hostname`.
  networking.hostName = "";
  networking.useNetworkd = true;
  networking.useDHCP = lib.mkDefault true;
  environment.etc.hosts.mode = "0644";

  services.openssh = {
    enable = true;
    openFirewall = true;
    authorizedKeysFiles = [ "${injectDir}/authorized_keys" ];
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

  systemd.services.fba-inject = {
    description = "Unpack the fw_cfg blob ${fwCfgName} into ${injectDir}";
    unitConfig.DefaultDependencies = false;
    after = [ "systemd-modules-load.service" ];
    before = [
      "sysinit.target"
      "network-pre.target"
      "systemd-networkd.service"
      "sshd.service"
    ];
    wants = [ "network-pre.target" ];
    wantedBy = [ "sysinit.target" ];
    path = [
      pkgs.gnutar
      pkgs.coreutils
    ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      UMask = "0077";
    };
    script = ''
      blob=/sys/firmware/qemu_fw_cfg/by_name/${fwCfgName}/raw
      if [ ! -r "$blob" ]; then
        echo "fba-inject: no fw_cfg blob ${fwCfgName}; nothing to inject"
        exit 0
      fi
      install -d -m 0700 ${injectDir}
      tar -x -f "$blob" -C ${injectDir} --no-same-owner
      if [ -d ${injectDir}/network ]; then
        install -d -m 0755 /run/systemd/network
        install -m 0644 ${injectDir}/network/*.network /run/systemd/network/
      fi
      if [ -s ${injectDir}/hostname ]; then
        head -n1 ${injectDir}/hostname > /proc/sys/kernel/hostname
      fi
      if [ -s ${injectDir}/hosts ]; then
        cat ${injectDir}/hosts >> /etc/hosts
      fi
      if [ -f ${injectDir}/env ]; then
        install -D -m 0600 ${injectDir}/env ${units.graph.environmentFile}
      fi
    '';
  };

  system.stateVersion = "25.05";
}
