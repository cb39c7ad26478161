# The control-plane netboot image: the design's "Integration Points" example, with the
# stand-ins in place of the T024 service modules (swap the three imports for yours).
{ ... }:
{
  imports = [
    ./netboot-base.nix
    ../nix/modules/standin-chainfire.nix
    ../nix/modules/standin-flaredb.nix
    ../nix/modules/standin-iam.nix
    ../nix/modules/first-boot-automation.nix
  ];

  # cluster-config.json (and TLS files) arrive through fw_cfg: netboot-base.nix's fba-inject
  # writes them straight into the secrets dir, so no provisioning unit is needed.
  services.first-boot-automation.enable = true;

  # APIs on every address: fba probes 127.0.0.1, the other nodes use the cluster address.
  services.standin-chainfire = {
    enable = true;
    apiAddr = "0.0.0.0:2379";
  };
  services.standin-flaredb = {
    enable = true;
    apiAddr = "0.0.0.0:2479";
  };
  services.standin-iam = {
    enable = true;
    apiAddr = "0.0.0.0:8080";
  };
}
