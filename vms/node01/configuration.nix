# node01: a bootstrap control-plane node installed to disk (nixos-anywhere + disko).
# Its identity and address are in cluster-config.json beside this file.
{ ... }:
{
  imports = [
    (import ../common.nix { clusterConfigFile = ./cluster-config.json; })
    ./disko.nix
  ];
}
