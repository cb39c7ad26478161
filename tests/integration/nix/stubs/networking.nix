# What the evaluator's NixOS stub leaves out of nixpkgs' networking modules and our
# configurations use:
#   nixos/modules/tasks/network-interfaces.nix  networking.useNetworkd, networking.useDHCP
#     (declared here) and the pattern networking.hostName is typed with (the stub types it
#     as any string, so the pattern is an assertion)
#   nixos/modules/system/boot/networkd.nix      systemd.network.networks.<name>: the option
#     names we use, and the [Match] keys its checkNetwork accepts (systemd.network(5))
# systemd.network is an untyped attribute set in the stub, hence assertions.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  hostNamePattern = "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
  networks = config.systemd.network.networks or { };
  # networkd.nix networkOptions that our files may set; add one when we start using it
  networkOptions = [ "enable" "matchConfig" "networkConfig" "linkConfig" "address" "gateway" "dns" "DHCP" "routes" "extraConfig" ];
  matchKeys = [
    "MACAddress" "PermanentMACAddress" "Path" "Driver" "Type" "Kind" "Property" "Name"
    "WLANInterfaceType" "SSID" "BSSID" "Host" "Virtualization" "KernelCommandLine"
    "KernelVersion" "Credential" "Architecture" "Firmware"
  ];
in
{
  options.networking = {
    useNetworkd = mkOption {
      type = types.bool;
      default = false;
    };
    useDHCP = mkOption {
      type = types.bool;
      default = true;
    };
  };

  config.assertions =
    [
      {
        assertion = builtins.match hostNamePattern config.networking.hostName != null;
        message = "networking.hostName `${config.networking.hostName}' does not match ${hostNamePattern} (network-interfaces.nix)";
      }
    ]
    ++ lib.concatLists (
      lib.mapAttrsToList (n: net: [
        {
          assertion = builtins.all (k: builtins.elem k networkOptions) (builtins.attrNames net);
          message = "systemd.network.networks.${n}: unknown option(s) ${
            toString (builtins.filter (k: !(builtins.elem k networkOptions)) (builtins.attrNames net))
          } (networkd.nix; tests/integration/nix/stubs/networking.nix lists the ones we use)";
        }
        {
          assertion = builtins.all (k: builtins.elem k matchKeys) (builtins.attrNames (net.matchConfig or { }));
          message = "systemd.network.networks.${n}.matchConfig: key(s) not valid in [Match]: ${
            toString (builtins.filter (k: !(builtins.elem k matchKeys)) (builtins.attrNames (net.matchConfig or { })))
          }";
        }
        {
          assertion = builtins.isList (net.address or [ ]) && builtins.all builtins.isString (net.address or [ ]);
          message = "systemd.network.networks.${n}.address: networkd.nix types it as a list of strings";
        }
      ]) networks
    );
}
