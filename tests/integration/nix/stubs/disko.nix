# Stub of disko's NixOS module (github:nix-community/disko: module.nix, lib/types/disk.nix,
# gpt.nix, filesystem.nix) covering what vms/disko-layout.nix uses: `disko.devices.disk.<n>`
# of type "disk" holding a "gpt" table whose partitions hold a "filesystem". Types, enums,
# patterns and defaults follow those files; other disko content types are refused, so a new
# one in our layout needs a line here. As in disko, the mounted file systems become
# `fileSystems` (module.nix: `fileSystems = mkIf enableConfig devices._config.fileSystems`).
# Written for the offline evaluator; never imported by the flake.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  # disko lib/default.nix optionTypes.absolute-pathname
  absolutePath = types.strMatching "/.*";

  # disko's subType: the `type` field picks the submodule a definition is checked against.
  tagged =
    variants:
    lib.mkOptionType {
      name = "diskoContent";
      description = "one of ${lib.concatStringsSep ", " (builtins.attrNames variants)} (by `type`)";
      check = builtins.isAttrs;
      merge =
        loc: defs:
        let
          named = builtins.filter (d: d.value ? type) defs;
          kind =
            if named == [ ] then
              throw "${lib.showOption loc}: disko content needs a `type' (one of ${lib.concatStringsSep ", " (builtins.attrNames variants)})"
            else
              (builtins.head named).value.type;
        in
        if variants ? ${kind} then
          (variants.${kind}).merge loc defs
        else
          throw "${lib.showOption loc}: disko content type `${kind}' is not one of ${lib.concatStringsSep ", " (builtins.attrNames variants)} (tests/integration/nix/stubs/disko.nix models only these)";
    };

  filesystem = types.submodule {
      options = {
        type = mkOption { type = types.enum [ "filesystem" ]; };
        # disko: defaults to the partition's device; null here, resolved below
        device = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        extraArgs = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        mountOptions = mkOption {
          type = types.listOf types.str;
          default = [ "defaults" ];
        };
        mountpoint = mkOption {
          type = types.nullOr absolutePath;
          default = null;
        };
        format = mkOption { type = types.str; };
      };
    };

  partition =
    diskName:
    types.submodule (
      { name, config, ... }:
      {
        options = {
          type = mkOption {
            # an sgdisk short code or a full GUID (gpt.nix)
            type = types.either (types.strMatching "[A-Fa-f0-9]{4}") (
              types.strMatching "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"
            );
            default = "8300";
          };
          name = mkOption {
            type = types.str;
            default = name;
          };
          label = mkOption {
            type = types.str;
            default = "disk-${diskName}-${config.name}";
          };
          device = mkOption {
            type = types.str;
            default = "/dev/disk/by-partlabel/${config.label}";
          };
          size = mkOption {
            type = types.either (types.enum [ "100%" ]) (types.strMatching "[0-9]+[KMGTP]?");
            default = "0";
          };
          priority = mkOption {
            type = types.int;
            default = if config.size == "100%" then 9001 else if config.type == "EF02" then 100 else 1000;
          };
          content = mkOption {
            type = types.nullOr (tagged { inherit filesystem; });
            default = null;
          };
        };
      }
    );

  gpt =
    diskName:
    types.submodule {
      options = {
        type = mkOption { type = types.enum [ "gpt" ]; };
        partitions = mkOption {
          type = types.attrsOf (partition diskName);
          default = { };
        };
      };
    };

  disk = types.submodule (
    { name, config, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default = lib.replaceStrings [ "/" ] [ "_" ] name;
        };
        type = mkOption {
          type = types.enum [ "disk" ];
          default = "disk";
        };
        device = mkOption { type = absolutePath; };
        imageSize = mkOption {
          type = types.strMatching "[0-9]+[KMGTP]?";
          default = "2G";
        };
        content = mkOption {
          type = types.nullOr (tagged { gpt = gpt config.name; });
          default = null;
        };
      };
    }
  );

  cfg = config.disko;
  partitionsOf = d: if d.content == null then [ ] else builtins.attrValues d.content.partitions;
  mounted = builtins.filter (p: p.content != null && p.content.mountpoint != null) (
    builtins.concatMap partitionsOf (builtins.attrValues cfg.devices.disk)
  );
in
{
  options.disko = {
    devices.disk = mkOption {
      type = types.attrsOf disk;
      default = { };
    };
    enableConfig = mkOption {
      type = types.bool;
      default = true;
    };
  };

  config = {
    # disko reads every value of the tree when it renders its partitioning scripts (the
    # _create/_mount options), which happens at install time; forcing the tree here moves a bad
    # size or partition type to evaluation time.
    assertions = [
      {
        assertion = builtins.deepSeq cfg.devices true;
        message = "disko.devices does not evaluate";
      }
    ];
    fileSystems = lib.mkIf cfg.enableConfig (
      builtins.listToAttrs (
        map (p: {
          name = p.content.mountpoint;
          value = {
            device = if p.content.device != null then p.content.device else p.device;
            fsType = p.content.format;
            options = p.content.mountOptions;
          };
        }) mounted
      )
    );
  };
}
