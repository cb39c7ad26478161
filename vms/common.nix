# What node01..node03 share: the stand-ins, the first-boot automation, a static cluster
# address and /etc/hosts entries, all read from the nodes' cluster-config.json files.
{ clusterConfigFile }:
{ lib, pkgs, ... }:
let
  cluster = lib.importJSON clusterConfigFile;
  hostOf = cfg: builtins.head (lib.splitString ":" cfg.raft_addr);
  address = hostOf cluster;

  # Every node directory beside this file, so each node resolves the others' names.
  nodeConfigs = map (n: lib.importJSON ./${n}/cluster-config.json) (
    builtins.filter (n: builtins.pathExists ./${n}/cluster-config.json) (
      builtins.attrNames (lib.filterAttrs (_: kind: kind == "directory") (builtins.readDir ./.))
    )
  );

  # Beside cluster-config.json in the secrets directory (root-only, 0700), where
  # nixos-anywhere --extra-files puts the node's files.
  authorizedKeysFile = "${(import ../nix/lib/units.nix { }).graph.secretsDir}/authorized_keys";

  ports = {
    chainfire = 2379;
    flaredb = 2479;
    iam = 8080;
  };
in
{
  imports = [
    ../nix/modules/standin-chainfire.nix
    ../nix/modules/standin-flaredb.nix
    ../nix/modules/standin-iam.nix
    ../nix/modules/first-boot-automation.nix
  ];

  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = false;
  boot.initrd.availableKernelModules = [
    "virtio_pci"
    "virtio_blk"
    "virtio_scsi"
    "ahci"
    "sd_mod"
  ];
  boot.kernelModules = [ "qemu_fw_cfg" ];
  boot.kernelParams = [ "console=ttyS0,115200n8" ];

  networking.hostName = cluster.node_id;
  networking.useNetworkd = true;
  systemd.network.networks."10-cluster" = {
    matchConfig.Name = "en* eth*";
    address = [ "${address}/24" ];
  };
  networking.hosts = builtins.listToAttrs (
    map (c: {
      name = hostOf c;
      value = [ c.node_id ];
    }) nodeConfigs
  );

  # Root logs in by SSH key only, and the keys are not in the configuration: like
  # cluster-config.json, they are installed per node (nixos-anywhere --extra-files) as
  # /etc/nixos/secrets/authorized_keys. Immutable users keep `passwd` from adding a password later;
  # users.allowNoPasswordLogin tells users-groups.nix that the missing declared key is
  # intended (its lock-out assertion cannot see a file sshd reads at run time).
  users.mutableUsers = false;
  users.allowNoPasswordLogin = true;
  users.users.root.hashedPassword = "!"; # no password login, console included

  services = lib.mkMerge [
    {
      openssh = {
        enable = true;
        authorizedKeysFiles = [ authorizedKeysFile ];
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = "prohibit-password";
        };
      };

      first-boot-automation = {
        enable = true;
        # Test data only (it lands in the world-readable store). Real nodes: drop this and let
        # nixos-anywhere --extra-files put cluster-config.json and the TLS files in place.
        provisioning.source = pkgs.linkFarm "fba-provision-${cluster.node_id}" [
          {
            name = "cluster-config.json";
            path = clusterConfigFile;
          }
        ];
      };
    }

    # fba probes 127.0.0.1; the other nodes use the cluster address.
    (lib.mapAttrs' (service: port: {
      name = "standin-${service}";
      value = {
        enable = true;
        apiAddr = "0.0.0.0:${toString port}";
        advertiseApiUrl = "http://${address}:${toString port}";
      };
    }) ports)
  ];

  system.stateVersion = "25.05";
}
