# chainfire.service from the stand-in (API 2379, Raft 2380). Swap for your T024 chainfire module.
import ./standin.nix {
  service = "chainfire";
  apiPort = 2379;
  raftPort = 2380;
}
