# GPT: ESP, root and a persistent /var/lib (see ../disko-layout.nix).
import ../disko-layout.nix { device = "/dev/vda"; }
