# NixOS VM test: three bootstrap nodes running the stand-ins; each runs the first-boot units
# of nix/units.json to success. Node names and cluster-config.json come from vms/, with the
# test network's addresses in place of 10.77.0.1x. Run: nix build .#checks.x86_64-linux.vm-bootstrap
{ self }:
{ lib, ... }:
let
  graph = lib.importJSON ../units.json;
  names = builtins.filter (n: builtins.pathExists ../../vms/${n}/cluster-config.json) (
    builtins.attrNames (lib.filterAttrs (_: kind: kind == "directory") (builtins.readDir ../../vms))
  );
  ports = {
    chainfire = 2379;
    flaredb = 2479;
    iam = 8080;
  };
in
{
  name = "fba-three-node-bootstrap";

  nodes = lib.genAttrs names (
    name:
    { config, pkgs, ... }:
    let
      ip = config.networking.primaryIPAddress;
      base = lib.importJSON ../../vms/${name}/cluster-config.json;
      clusterConfig = base // {
        raft_addr = "${ip}:${lib.last (lib.splitString ":" base.raft_addr)}";
      };
    in
    {
      imports = [
        self.nixosModules.first-boot-automation
        self.nixosModules.standin-chainfire
        self.nixosModules.standin-flaredb
        self.nixosModules.standin-iam
      ];
      virtualisation.memorySize = 1024;
      services =
        {
          first-boot-automation = {
            enable = true;
            provisioning.source = pkgs.writeTextDir "cluster-config.json" (builtins.toJSON clusterConfig);
          };
        }
        # fba probes 127.0.0.1; peers reach the node's address.
        // lib.mapAttrs' (service: port: {
          name = "standin-${service}";
          value = {
            enable = true;
            apiAddr = "0.0.0.0:${toString port}";
            advertiseApiUrl = "http://${ip}:${toString port}";
          };
        }) ports;
    }
  );

  testScript = ''
    import json

    graph = json.loads(${builtins.toJSON (builtins.toJSON graph)})
    state = graph["stateDir"]
    config = graph["environment"]["FBA_CONFIG"]


    def finished_ok(unit: str) -> str:
        return (
            f'[ "$(systemctl show -p ExecMainExitTimestampMonotonic --value {unit})" != 0 ]'
            f' && [ "$(systemctl show -p Result --value {unit})" = success ]'
        )


    start_all()
    for m in machines:
        with subtest(f"{m.name}: every first-boot unit succeeded"):
            for u in graph["units"]:
                if u["remainAfterExit"]:
                    m.wait_for_unit(u["name"], timeout=900)
                else:
                    m.wait_until_succeeds(finished_ok(u["name"]), timeout=900)
        with subtest(f"{m.name}: systemd applied the ordering of units.json"):
            for u in graph["units"]:
                after = m.succeed(f"systemctl show -p After --value {u['name']}").split()
                missing = [x for x in u["after"] if x not in after]
                assert not missing, f"{u['name']}: After= lacks {missing}; systemd has {after}"
        with subtest(f"{m.name}: markers and secrets"):
            m.succeed(f"test $(stat -c %a {state}) = {int(graph['stateDirMode'], 8):o}")
            m.succeed(f"test $(stat -c %a {config}) = 600")
            for u in graph["units"]:
                if u["markers"]:
                    m.succeed(" || ".join(f"test -s {state}/{mk}" for mk in u["markers"]))
  '';
}
