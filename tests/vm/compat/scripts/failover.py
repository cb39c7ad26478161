# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/keepalived.nix (testScript read at 4e899fe8; the "failover"
# subtest from its version at 13b49da8): two nodes share a virtual IP; the one with the higher
# priority holds it, the other takes it over while the first is cut off and gives it back once
# it returns. Run with `--nodes 2` (or more): node1 = node01, node2 = node02.
# Substituted, and why (there is no keepalived in the image):
# - keepalived -> a small loop in keepalived.service, started by keepalived-boot-delay.timer
#   (the unit names upstream's NixOS module uses), both written to /run/systemd/system first:
#   VRRP reduced to "hold the VIP if my priority is the higher one, or if my peer does not answer
#   on the cluster link" (a ping stands in for the peer's advertisements).
# - 192.168.1.200 on eth1 -> 10.77.0.200 on the cluster NIC (the one with a 10.77.0.0/24 address).
# Not adapted: the later "reload config"/"restart config" subtests (switch-to-configuration
# between NixOS specialisations; our nodes have no such thing).
import tempfile
from pathlib import Path

VIP = "10.77.0.200"
CLUSTER_NIC = "$(ip -o -4 addr show to 10.77.0.0/24 | awk '{print $2; exit}')"

KEEPALIVED = r"""#!/bin/bash
# keepalived stand-in: PRIO PEER PEER_PRIO VIP
prio=$1 peer=$2 peer_prio=$3 vip=$4
nic=$(ip -o -4 addr show to 10.77.0.0/24 | awk '{print $2; exit}')
echo "keepalived stand-in: priority $prio, peer $peer ($peer_prio), $vip on $nic"
while true; do
    if [ "$prio" -gt "$peer_prio" ] || ! ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then want=1; else want=0; fi
    if ip -o -4 addr show dev "$nic" | grep -q " $vip/"; then have=1; else have=0; fi
    if [ $want = 1 ] && [ $have = 0 ]; then ip addr add "$vip/24" dev "$nic" && echo "Entering MASTER STATE"; fi
    if [ $want = 0 ] && [ $have = 1 ]; then ip addr del "$vip/24" dev "$nic" && echo "Entering BACKUP STATE"; fi
    sleep 1
done
"""
BOOT_DELAY = """[Timer]
OnActiveSec=5s
Unit=keepalived.service
"""


def keepalived_unit(prio, peer, peer_prio):
    return f"""[Unit]
Description=keepalived stand-in (VRRP reduced to a ping of the peer)
[Service]
ExecStart=/bin/bash /run/keepalived.sh {prio} {peer} {peer_prio} {VIP}
"""


def configure(node, prio, peer, peer_prio):
    """Ours: upstream's services.keepalived config, applied at run time."""
    host = Path(tempfile.mkdtemp())
    files = {
        "/run/keepalived.sh": KEEPALIVED,
        "/run/systemd/system/keepalived.service": keepalived_unit(prio, peer.name, peer_prio),
        "/run/systemd/system/keepalived-boot-delay.timer": BOOT_DELAY,
    }
    for target, text in files.items():
        (host / Path(target).name).write_text(text)
        node.copy_from_host(host / Path(target).name, target)
    node.succeed("systemctl daemon-reload", "systemctl start keepalived-boot-delay.timer")


start_all()
node1, node2 = node01, node02
for node in [node1, node2]:
    node.wait_for_unit("multi-user.target")
configure(node1, 50, node2, 100)
configure(node2, 100, node1, 50)

# wait for boot time delay to pass
for node in [node1, node2]:
    node.wait_until_succeeds(
        "systemctl show -p LastTriggerUSecMonotonic keepalived-boot-delay.timer | grep -vq 'LastTriggerUSecMonotonic=0'"
    )
    node.wait_for_unit("keepalived")
node2.wait_until_succeeds(f"ip addr show dev {CLUSTER_NIC} | grep -q {VIP}")
node1.fail(f"ip addr show dev {CLUSTER_NIC} | grep -q {VIP}")
node1.succeed(f"ping -c1 {VIP}")

with subtest("failover"):
    node2.block()
    node1.wait_until_succeeds(f"ip addr show dev {CLUSTER_NIC} | grep -q {VIP}")
    node2.unblock()
    node1.wait_until_fails(f"ip addr show dev {CLUSTER_NIC} | grep -q {VIP}")
