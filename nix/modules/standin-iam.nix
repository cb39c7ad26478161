# iam.service from the stand-in (API 8080; keeps its data in flaredb). Swap for your T024 iam module.
import ./standin.nix {
  service = "iam";
  apiPort = 8080;
  extraOptions = lib: {
    flaredbUrl = lib.mkOption {
      type = lib.types.str;
      default = "http://127.0.0.1:2479";
      description = "flaredb API base URL iam keeps its data in.";
    };
  };
  extraArgs = cfg: [
    "--flaredb-url"
    cfg.flaredbUrl
  ];
}
