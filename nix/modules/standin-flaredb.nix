# flaredb.service from the stand-in (API 2479, Raft 2480). Swap for your T024 flaredb module.
import ./standin.nix {
  service = "flaredb";
  apiPort = 2479;
  raftPort = 2480;
}
