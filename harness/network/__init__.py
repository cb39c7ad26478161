"""The run's cluster network: a namespace with a bridge and taps (`fabric`), and faults as
bridge nftables rules (`nft`). Knows nothing of QEMU: nodes get plain values from it
(tap names, `exec_prefix`, a socket factory) and it acts as their `LinkControl`.
Every network fault is an entry of the fabric's `NetLedger` (`ledger`), the one writer of rules.
Imports downward only: `harness.machine.reaper` for teardown on signals.
"""

from harness.machine.reaper import teardown_all
from harness.network.fabric import Fabric
from harness.network.ledger import NetEntry, NetFaultError, NetLedger
from harness.network.netns import connect_in_netns, sweep_stale
from harness.network.nft import Cut, FaultRules

__all__ = [
    "Fabric",
    "NetLedger",
    "NetEntry",
    "NetFaultError",
    "FaultRules",
    "Cut",
    "sweep_stale",
    "connect_in_netns",
    "teardown_all",
]
