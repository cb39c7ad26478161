# Checks of nixpkgs' nixos/modules/config/users-groups.nix that the evaluator's stub leaves
# out and our values could trigger (its lock-out assertion is in the stub): the ":" in a
# password hash, and the warning for more than one password option on one user.
{ config, lib, ... }:
let
  cfg = config.users;
  passwordOptions = [ "hashedPassword" "hashedPasswordFile" "password" ]
    ++ lib.optionals cfg.mutableUsers [ "initialHashedPassword" "initialPassword" ];
in
{
  config = {
    assertions = lib.mapAttrsToList (n: u: {
      assertion = u.hashedPassword != null -> builtins.match ".*:.*" u.hashedPassword == null;
      message = "The password hash of user \"${n}\" contains a \":\" character.";
    }) cfg.users;
    warnings = lib.concatLists (
      lib.mapAttrsToList (
        n: u:
        lib.optional (builtins.length (builtins.filter (o: u.${o} or null != null) passwordOptions) > 1)
          "The user '${n}' has multiple of the options `initialHashedPassword`, `hashedPassword`, `initialPassword`, `password` & `hashedPasswordFile` set to a non-null value."
      ) cfg.users
    );
  };
}
