# nix/units.json -> NixOS `systemd.services` definitions.
#
# nix/units.json is rendered from automation/spec/units.py (`python -m automation.render`),
# the same data automation/render.py turns into the Debian image's unit files, so the
# ordering (After/Before/Requires/Wants), types and exit codes are never typed in Nix.
# Pure builtins, no nixpkgs lib: CI evaluates this file with a bare `nix-instantiate`
# (nix/tests/units-mapping.nix) and compares it with the Python renderer.
{
  graph ? builtins.fromJSON (builtins.readFile ../units.json),
}:
let
  inherit (builtins) concatStringsSep filter listToAttrs map stringLength substring;

  removeSuffix =
    suffix: s:
    let
      n = stringLength s;
      k = stringLength suffix;
    in
    if k <= n && substring (n - k) k s == suffix then substring 0 (n - k) s else s;
  removePrefix =
    prefix: s:
    let
      k = stringLength prefix;
    in
    if substring 0 k s == prefix then substring k (stringLength s - k) s else s;

in
rec {
  inherit graph;
  inherit (graph) units;

  inherit (graph) hardening;

  # "<stem>.service" -> "<stem>" (NixOS keys systemd.services by the stem)
  attrName = unit: removeSuffix ".service" unit.name;

  # The service a unit automates ("chainfire", ...) or null (the health report).
  serviceOf = unit: unit.service or null;

  # Units that belong to the given services, plus the ones that belong to none.
  selected = services: filter (u: serviceOf u == null || builtins.elem (serviceOf u) services) graph.units;

  # The units a service runs as ("chainfire" -> "chainfire.service"); the names come from
  # units.json's externalUnits, so a rename there reaches Nix.
  serviceUnitOf = service: builtins.head (filter (x: x == "${service}.service") graph.externalUnits);

  # StateDirectory= wants a path relative to /var/lib.
  stateDirectoryName = stateDir: removePrefix "/var/lib/" stateDir;

  # One unit as NixOS service options.
  #   execPrefix   the `fba` executable ("${package}/bin/fba")
  #   environment  the unit's Environment= (default: units.json's environment)
  #   stateDir     absolute, under /var/lib (the module asserts it)
  #   secretsDir   writable under ProtectSystem=strict
  #   writablePaths  directories the node's cluster-config.json writes besides the units' own
  #                (prometheus_textfile's, iam.credentials_path's): added to ReadWritePaths
  mkService =
    {
      execPrefix,
      environment ? graph.environment,
      stateDir ? graph.stateDir,
      secretsDir ? graph.secretsDir,
      writablePaths ? [ ],
    }:
    unit:
    {
      description = unit.description;
      inherit (unit) documentation;
      inherit (unit)
        after
        before
        requires
        wants
        wantedBy
        startLimitIntervalSec
        startLimitBurst
        ;
      inherit environment;
      serviceConfig =
        hardening
        // {
          Type = unit.type;
          RemainAfterExit = unit.remainAfterExit;
          ExecStart = concatStringsSep " " ([ execPrefix ] ++ unit.argv);
          Restart = unit.restart;
          RestartSec = unit.restartSec;
          TimeoutStartSec = unit.timeoutStartSec;
          EnvironmentFile = "-${graph.environmentFile}";
          StateDirectory = stateDirectoryName stateDir;
          StateDirectoryMode = graph.stateDirMode;
          # units.json's writableDirs (the secrets dir as the caller names it), then the
          # operator's: everything else is read-only under ProtectSystem=strict (break 12, K13).
          ReadWritePaths = map (d: "-${d}") (
            map (d: if d == graph.secretsDir then secretsDir else d) graph.writableDirs ++ writablePaths
          );
        }
        // (if unit.successExitStatus == [ ] then { } else { SuccessExitStatus = unit.successExitStatus; })
        // (
          if unit.restartPreventExitStatus == [ ] then
            { }
          else
            { RestartPreventExitStatus = unit.restartPreventExitStatus; }
        );
    };

  # { <stem> = <service options>; } for the selected units.
  mkServices =
    args: services:
    listToAttrs (
      map (u: {
        name = attrName u;
        value = mkService args u;
      }) (selected services)
    );

  # Required units of the selected ones that are not selected themselves (for assertions).
  missingRequirements =
    services:
    let
      names = map (u: u.name) (selected services);
    in
    builtins.concatMap (
      u:
      map (r: {
        unit = u.name;
        requires = r;
      }) (
        filter (r: !(builtins.elem r names) && !(builtins.elem r graph.externalUnits)) (
          # Requires=, and the join fba itself insists on (`--require-joined`).
          u.requires ++ (if u.requiresJoined or null == null then [ ] else [ u.requiresJoined ])
        )
      )
    ) (selected services);
}
