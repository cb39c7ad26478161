# Boot options our configurations set that the evaluator's NixOS stub does not declare, as
# nixpkgs declares them:
#   nixos/modules/system/boot/loader/loader.nix             system.boot.loader.kernelFile
#   nixos/modules/system/boot/kernel.nix                    boot.initrd.availableKernelModules, boot.initrd.kernelModules,
#     and the pattern it types each of boot.kernelParams with (the stub: any string)
#   nixos/modules/system/boot/loader/grub/grub.nix          boot.loader.grub.{enable,devices} + its "no devices" assertion
#   nixos/modules/system/boot/loader/systemd-boot/systemd-boot.nix  enable (turns grub off by mkDefault)
#   nixos/modules/system/boot/loader/efi.nix                boot.loader.efi.{canTouchEfiVariables,efiSysMountPoint}
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  bool = default: mkOption {
    type = types.bool;
    inherit default;
  };
  grub = config.boot.loader.grub;
  kernelParam = ''([^"[:space:]]|"[^"]*")+'';
in
{
  options = {
    system.boot.loader.kernelFile = mkOption {
      type = types.str;
      default = "bzImage";
    };
    boot.initrd.availableKernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    boot.initrd.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    boot.loader.grub.enable = bool (!config.boot.isContainer);
    boot.loader.grub.devices = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    boot.loader.systemd-boot.enable = bool false;
    boot.loader.efi.canTouchEfiVariables = bool false;
    boot.loader.efi.efiSysMountPoint = mkOption {
      type = types.str;
      default = "/boot";
    };
  };

  config = lib.mkMerge [
    (lib.mkIf config.boot.loader.systemd-boot.enable { boot.loader.grub.enable = lib.mkDefault false; })
    {
      assertions = [
        {
          assertion = builtins.all (p: builtins.match kernelParam p != null) config.boot.kernelParams;
          message = "boot.kernelParams: ${
            toString (builtins.filter (p: builtins.match kernelParam p == null) config.boot.kernelParams)
          } is not a kernel parameter (kernel.nix: no spaces outside double quotes)";
        }
        {
          assertion = grub.enable -> grub.devices != [ ];
          message = "You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.";
        }
        {
          # systemd-boot.nix
          assertion = config.boot.loader.systemd-boot.enable -> lib.hasPrefix "/" config.boot.loader.efi.efiSysMountPoint;
          message = "The ESP mount point '${config.boot.loader.efi.efiSysMountPoint}' must be an absolute path";
        }
      ];
    }
  ];
}
