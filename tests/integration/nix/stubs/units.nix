# Unit checks NixOS leaves to systemd (nixpkgs nixos/lib/systemd-lib.nix checks only
# Type=/Restart= values, which the evaluator already does). systemd.unit(5): the start rate
# limit belongs to [Unit]; nixos/lib/systemd-unit-options.nix declares startLimitIntervalSec
# and startLimitBurst (type int) and writes them there, while serviceConfig lands in [Service],
# where systemd ignores StartLimitIntervalSec= ("Unknown key name").
{ config, lib, ... }:
let
  misplaced = [ "StartLimitIntervalSec" "StartLimitInterval" "StartLimitBurst" "StartLimitAction" ];
in
{
  config.assertions = lib.concatLists (
    lib.mapAttrsToList (n: s: [
      {
        assertion = builtins.all (k: !(s.serviceConfig ? ${k})) misplaced;
        message = "systemd.services.${n}.serviceConfig sets ${
          toString (builtins.filter (k: s.serviceConfig ? ${k}) misplaced)
        }: that is [Unit] material; use systemd.services.${n}.startLimitIntervalSec / startLimitBurst (or unitConfig)";
      }
    ]) config.systemd.services
  );
}
