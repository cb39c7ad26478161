# nix/lib/units.nix evaluated with builtins only (no nixpkgs): the systemd.services the
# module generates for the default service set. tests/integration/nix compares the result
# with automation/render.py's unit files, so CI checks the mapping without nixpkgs' lib.
#   nix-instantiate --eval --strict --json nix/tests/units-mapping.nix
{
  execPrefix ? "/nix/store/00000000000000000000000000000000-first-boot-automation/bin/fba",
  services ? null,
}:
let
  units = import ../lib/units.nix { };
  all = builtins.filter (s: s != null) (map units.serviceOf units.units);
  selected = if services == null then all else services;
in
{
  services = units.mkServices { inherit execPrefix; } selected;
  missingRequirements = units.missingRequirements selected;
}
