# Shared body of the stand-in service modules (standin-chainfire.nix, ...): a small Raft
# daemon from standins/ running as `<service>.service`, the unit name the first-boot units
# order against. Replace a stand-in by importing your own T024 module that defines the same
# unit name instead of this one.
{
  service,
  apiPort,
  raftPort ? null,
  extraOptions ? _lib: { },
  extraArgs ? _cfg: [ ],
}:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services."standin-${service}";
  units = import ../lib/units.nix { };
  inherit (lib) mkOption types;
  flag = name: value: lib.optionals (value != null) [ "--${name}" (toString value) ];
  argv =
    [ (lib.getExe' cfg.package "standin-${service}") ]
    ++ flag "cluster-config" cfg.clusterConfig
    ++ flag "api-addr" cfg.apiAddr
    ++ flag "advertise-api-url" cfg.advertiseApiUrl
    ++ lib.optionals (raftPort != null) (flag "data-dir" cfg.dataDir)
    ++ extraArgs cfg
    ++ cfg.extraArgs;
in
{
  options.services."standin-${service}" = {
    enable = lib.mkEnableOption "the ${service} stand-in (a pysyncobj Raft daemon speaking ${service}'s HTTP contract)";

    package = lib.mkPackageOption pkgs "fba-standins" { } // {
      description = "The package providing `bin/standin-${service}` (the flake's `packages.<system>.standins`).";
    };

    clusterConfig = mkOption {
      type = types.str;
      default = units.graph.environment.FBA_CONFIG;
      defaultText = lib.literalExpression ''"/etc/nixos/secrets/cluster-config.json"'';
      description = "The node's cluster-config.json: node id, addresses and bootstrap peers come from it.";
    };

    apiAddr = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "0.0.0.0:${toString apiPort}";
      description = "HOST:PORT the HTTP API listens on (null: the stand-in's default, the host of raft_addr).";
    };

    advertiseApiUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "http://10.77.0.11:${toString apiPort}";
      description = "URL other nodes use to reach this API (set it when apiAddr is a wildcard).";
    };

    dataDir = mkOption {
      type = types.str;
      default = "/var/lib/standin-${service}";
      description = "Raft journal and snapshots.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = "Open the API port ${toString apiPort}${lib.optionalString (raftPort != null) " and the Raft port ${toString raftPort}"}.";
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        STANDIN_HEALTH_DELAY = "5";
      };
      description = "STANDIN_* knobs (every flag has one; see `standin-${service} --help`).";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--raft-profile" "fast" ];
      description = "Extra command-line flags.";
    };
  }
  // extraOptions lib;

  config = lib.mkIf cfg.enable {
    systemd.services.${service} = {
      description = "Stand-in ${service} (Raft over pysyncobj)";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
      environment = {
        PYTHONUNBUFFERED = "1";
      } // cfg.environment;
      serviceConfig = {
        Type = "simple";
        ExecStart = lib.escapeShellArgs argv;
        Restart = "on-failure";
        RestartSec = 2;
        StateDirectory = lib.mkIf (lib.hasPrefix "/var/lib/" cfg.dataDir) (lib.removePrefix "/var/lib/" cfg.dataDir);
        StateDirectoryMode = "0700";
        UMask = "0077";
        NoNewPrivileges = true;
        PrivateTmp = true;
        SyslogIdentifier = "standin-${service}";
      };
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall ([ apiPort ] ++ lib.optional (raftPort != null) raftPort);
  };
}
