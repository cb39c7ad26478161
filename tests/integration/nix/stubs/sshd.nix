# What the evaluator's NixOS stub leaves out of nixpkgs'
# nixos/modules/services/networking/ssh/sshd.nix and our configurations use: the
# authorizedKeysFiles / authorizedKeysInHomedir options (with the entries sshd.nix adds
# itself), the types of the `settings` keys we set, and its duplicate-key assertion. The
# stub declares `settings` as an untyped attribute set, so the types are checked as
# assertions here.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.services.openssh;
  # sshd.nix: settings.PermitRootLogin
  permitRootLogin = [ "yes" "without-password" "prohibit-password" "forced-commands-only" "no" ];
  # sshd.nix: these settings are `nullOr bool`
  boolSettings = [ "PasswordAuthentication" "KbdInteractiveAuthentication" "UsePAM" "X11Forwarding" "StrictModes" "PrintMotd" "UseDns" ];
  duplicates = builtins.filter (l: builtins.length l > 1) (
    builtins.attrValues (lib.groupBy lib.toLower (builtins.attrNames cfg.settings))
  );
in
{
  options.services.openssh = {
    authorizedKeysFiles = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    authorizedKeysInHomedir = mkOption {
      type = types.bool;
      default = true;
    };
  };

  config = lib.mkIf cfg.enable {
    services.openssh.authorizedKeysFiles =
      lib.optional cfg.authorizedKeysInHomedir "%h/.ssh/authorized_keys" ++ [ "/etc/ssh/authorized_keys.d/%u" ];
    assertions =
      [
        {
          assertion = duplicates == [ ];
          message = "Duplicate sshd config key; does your capitalization match the option's? Duplicate keys: ${
            lib.concatMapStringsSep ", " (d: "(${lib.concatStringsSep ", " d})") duplicates
          }";
        }
        {
          assertion = cfg.settings ? PermitRootLogin -> builtins.elem cfg.settings.PermitRootLogin permitRootLogin;
          message = "services.openssh.settings.PermitRootLogin: `${toString (cfg.settings.PermitRootLogin or "")}' is not one of ${lib.concatStringsSep ", " permitRootLogin} (sshd.nix types it as an enum)";
        }
      ]
      ++ map (k: {
        assertion = !(cfg.settings ? ${k}) || cfg.settings.${k} == null || builtins.isBool cfg.settings.${k};
        message = "services.openssh.settings.${k}: sshd.nix types it as null or bool";
      }) boolSettings
      ++ map (f: {
        # sshd_config(5) AuthorizedKeysFile: absolute, or relative to the home directory;
        # ours are absolute run-time paths
        assertion = f != "";
        message = "services.openssh.authorizedKeysFiles: empty entry";
      }) cfg.authorizedKeysFiles;
  };
}
