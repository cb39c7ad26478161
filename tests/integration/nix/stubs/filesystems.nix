# What the offline evaluator's NixOS stub leaves out of nixpkgs' nixos/modules/tasks/filesystems.nix
# (the `fileSystems` option, the fields our configurations and disko set) and the root file
# system assertion of nixos/modules/system/boot/stage-1.nix.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.fileSystems = mkOption {
    type = types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = {
            mountPoint = mkOption {
              type = types.strMatching "/.*"; # filesystems.nix: addCheckDesc "non-empty" (types.str) + absolute
              default = name;
            };
            device = mkOption {
              type = types.nullOr types.nonEmptyStr;
              default = null;
            };
            fsType = mkOption {
              type = types.nonEmptyStr;
              default = "auto";
            };
            options = mkOption {
              type = types.nonEmptyListOf types.nonEmptyStr;
              default = [ "defaults" ];
            };
            neededForBoot = mkOption {
              type = types.bool;
              default = false;
            };
          };
        }
      )
    );
    default = { };
  };

  config.assertions = [
    {
      # stage-1.nix
      assertion = builtins.any (fs: fs.mountPoint == "/") (builtins.attrValues config.fileSystems);
      message = "The ‘fileSystems’ option does not specify your root file system.";
    }
  ];
}
