# services.first-boot-automation: the four first-boot units of the design, generated from
# nix/units.json (rendered from automation/spec/units.py), plus the provisioning hook that
# installs cluster-config.json and the TLS files into the secrets directory.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.first-boot-automation;
  units = import ../lib/units.nix { };
  inherit (units) graph;
  inherit (lib) mkOption types;

  # Knobs of cluster-config.json that the module can override per host; `fba` reads
  # FBA_<SECTION>_<KEY> over the file's value. Unset (null) leaves the file in charge.
  overrides = lib.filterAttrs (_: v: v != null) {
    FBA_HEALTH_TIMEOUT_S = cfg.health.timeout;
    FBA_JOIN_MAX_ATTEMPTS = cfg.join.maxAttempts;
    FBA_JOIN_RETRY_DELAY_S = cfg.join.retryDelay;
    FBA_JOIN_RETRY_MODE = cfg.join.retryMode;
  };

  environment =
    graph.environment
    // {
      FBA_CONFIG = cfg.configFile;
      FBA_STATE_DIR = cfg.stateDir;
    }
    // lib.mapAttrs (_: toString) overrides
    // cfg.extraEnvironment;

  automation = units.mkServices {
    execPrefix = lib.getExe' cfg.package "fba";
    inherit environment;
    inherit (cfg) stateDir writablePaths;
    secretsDir = graph.secretsDir;
  } cfg.services;

  automationUnits = map (u: u.name) (units.selected cfg.services);
  serviceUnits = map units.serviceUnitOf cfg.services;
in
{
  options.services.first-boot-automation = {
    enable = lib.mkEnableOption "first-boot cluster bootstrap/join automation (chainfire, flaredb, iam)";

    package = lib.mkPackageOption pkgs "first-boot-automation" { } // {
      description = "The package providing `bin/fba` (the flake's `packages.<system>.fba`).";
    };

    configFile = mkOption {
      type = types.str;
      default = graph.environment.FBA_CONFIG;
      defaultText = lib.literalExpression ''"/etc/nixos/secrets/cluster-config.json" (from nix/units.json)'';
      description = ''
        Path of the node's cluster-config.json at run time. A string, not a Nix path: the
        file holds topology and secrets and must not be copied into the world-readable store.
      '';
    };

    stateDir = mkOption {
      type = types.str;
      default = graph.stateDir;
      defaultText = lib.literalExpression ''"/var/lib/first-boot-automation" (from nix/units.json)'';
      description = "Directory of the marker files (mode ${graph.stateDirMode}); must be under /var/lib.";
    };

    writablePaths = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "/var/lib/prometheus-node-exporter/text-files" ];
      description = ''
        Directories the node's cluster-config.json writes besides the units' own
        (${lib.concatStringsSep ", " graph.writableDirs} and the state directory): the directory
        of `prometheus_textfile` and of a non-default `iam.credentials_path`. The units run with
        ProtectSystem=strict, which leaves every other path read-only; these are added to their
        ReadWritePaths. `fba config validate` names a write path outside them.
      '';
    };

    services = mkOption {
      type = types.listOf (types.enum (lib.unique (lib.filter (s: s != null) (map units.serviceOf graph.units))));
      default = lib.filter (s: s != null) (map units.serviceOf graph.units);
      defaultText = lib.literalExpression ''[ "chainfire" "flaredb" "iam" ]'';
      example = [ "chainfire" ];
      description = ''
        Services to automate. Each needs its own unit (`<name>.service`, from the stand-in
        modules or your T024 modules); the health report runs whichever are selected.
      '';
    };

    health.timeout = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 120;
      description = "Seconds to wait for a local service to become healthy (null: cluster-config.json's `health.timeout_s`).";
    };

    join = {
      maxAttempts = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
        example = 5;
        description = "Join attempts against the leader (null: cluster-config.json's `join.max_attempts`).";
      };
      retryDelay = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
        example = 10;
        description = "Seconds between join attempts (null: cluster-config.json's `join.retry_delay_s`).";
      };
      retryMode = mkOption {
        type = types.nullOr (types.enum [ "exponential" "fixed" ]);
        default = null;
        description = "`fixed` is the design's constant delay; `exponential` doubles it with jitter (null: the file's `join.retry_mode`).";
      };
    };

    extraEnvironment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        FBA_FAILPOINTS = "join.after-add=crash";
      };
      description = "Extra environment of every automation unit (wins over the module's own).";
    };

    provisioning.source = mkOption {
      type = types.nullOr (types.either types.path types.str);
      default = null;
      example = "/run/cluster-secrets";
      description = ''
        Directory holding cluster-config.json (and optionally the TLS files) to install into
        ${graph.secretsDir} with mode 0600 before the services start, via
        `fba provision --source`. Skipped when the directory does not exist. Null: no
        provisioning unit (nixos-anywhere's --extra-files already put the files there).
        A Nix path is copied into the world-readable store: use one for test data only.
      '';
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions =
          [
            {
              assertion = lib.hasPrefix "/var/lib/" cfg.stateDir && !(lib.hasInfix ".." cfg.stateDir);
              message = "services.first-boot-automation.stateDir: got `${cfg.stateDir}'; it must be under /var/lib/ (systemd's StateDirectory= creates it with mode ${graph.stateDirMode}).";
            }
            {
              assertion = lib.all (p: lib.hasPrefix "/" p && !(lib.hasInfix ".." p)) cfg.writablePaths;
              message = "services.first-boot-automation.writablePaths: got [${lib.concatStringsSep ", " cfg.writablePaths}]; give absolute directories (without ..), such as /var/lib/prometheus-node-exporter/text-files.";
            }
            {
              assertion = lib.hasPrefix "/" cfg.configFile;
              message = "services.first-boot-automation.configFile: got `${cfg.configFile}'; give an absolute path such as ${graph.environment.FBA_CONFIG}.";
            }
          ]
          ++ map (m: {
            assertion = false;
            message = "services.first-boot-automation.services: ${m.unit} requires ${m.requires}, which is not generated for the selected services [${lib.concatStringsSep ", " cfg.services}]; add its service to the list.";
          }) (units.missingRequirements cfg.services)
          ++ map (s: {
            assertion = config.systemd.services ? ${s};
            message = "services.first-boot-automation.services contains `${s}', but no ${units.serviceUnitOf s} is defined; import nixosModules.standin-${s} (or your own ${s} module) or drop `${s}' from the list.";
          }) cfg.services;

        systemd.services = automation;

        # The state dir also exists before the first unit runs (operators write markers by
        # hand in the design's manual-join procedure).
        systemd.tmpfiles.rules = [
          "d ${cfg.stateDir} ${graph.stateDirMode} root root - -"
          "d ${graph.secretsDir} 0700 root root - -"
        ];
      }

      (lib.mkIf (cfg.provisioning.source != null) {
        systemd.services.first-boot-provision = {
          description = "First-boot: install cluster-config.json and TLS files into ${graph.secretsDir}";
          # Before the services too: they read cluster-config.json when they start.
          before = automationUnits ++ serviceUnits;
          requiredBy = automationUnits;
          wantedBy = [ "multi-user.target" ];
          unitConfig.ConditionPathIsDirectory = "${cfg.provisioning.source}";
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            UMask = "0077";
            ExecStart = "${lib.getExe' cfg.package "fba"} provision --source ${cfg.provisioning.source}";
          };
        };
      })
    ]
  );
}
