# The file systems nixpkgs' nixos/modules/installer/netboot/netboot.nix defines (tmpfs root,
# the squashfs store from the initrd under an overlay), which the evaluator's netboot stub
# (shared/nix-eval/nixos-modules/installer/netboot/netboot.nix) does not; with them the root
# file system assertion of filesystems.nix holds for the netboot image as it does on NixOS.
{ lib, ... }:
{
  fileSystems = {
    "/" = lib.mkDefault {
      fsType = "tmpfs";
      options = [ "mode=0755" ];
    };
    "/nix/.ro-store" = {
      fsType = "squashfs";
      device = "../nix-store.squashfs";
      options = [ "loop" ];
      neededForBoot = true;
    };
    "/nix/.rw-store" = {
      fsType = "tmpfs";
      options = [ "mode=0755" ];
      neededForBoot = true;
    };
    "/nix/store" = {
      fsType = "overlay";
      device = "overlay";
      options = [
        "lowerdir=/nix/.ro-store"
        "upperdir=/nix/.rw-store/store"
        "workdir=/nix/.rw-store/work"
      ];
    };
  };
}
