"""What lives in a user namespace, read from /proc (shared by the rootless integration and VM
tests, which check independently that an unprivileged run left nothing behind)."""

from __future__ import annotations

import os
from pathlib import Path


def inside(user_ns: list[int]) -> list[str]:
    """Live processes (of anyone) in the user namespace with this (device, inode).

    Zombies do not count: they are dead, hold no network namespace, and orphans of a SIGKILLed
    run wait for init to reap them (slowly, on some hosts); their /proc/PID/ns/user still
    answers, because the user namespace hangs off the credentials, freed only at the reap.
    """
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/user")
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        comm, _, rest = stat.partition(" (")[2].rpartition(")")
        if [st.st_dev, st.st_ino] == user_ns and rest.split()[0] != "Z":
            found.append(f"{entry.name} ({comm})")
    return found
