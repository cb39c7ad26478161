"""A running guest saved to files and started again from them: QEMU migration to a file.

Issue 16's bottom floor: one node. `save_state` pauses the guest, streams its RAM and device
state through `zstd` into `state.zst` (QMP `migrate` to an `exec:` URI: QEMU 7.2, Debian 12's,
has no `file:` URI yet), and copies its disk once the migration has flushed and inactivated it,
so the copy is exactly what the guest last wrote. Both appear under their final names only when
complete (written as `*.partial`, then renamed) and `saved.json`, written last, names them, so an
interrupted save is never restored (`SavedState.at` refuses it).

A restore is a new QEMU started with the same devices plus `incoming_args(saved)`: `-incoming`
reads the stream, `-S` keeps the guest paused once it is loaded so that several nodes can be
resumed together (`resume`). The saved disk stays read-only: each restore gets its own qcow2
overlay on it (`overlay_disk`), so restores of one snapshot never see each other's writes.

What a restore does not bring back: the host side (namespace, bridge, taps, the user NIC's
forward) is the caller's to rebuild with the same device set and MACs, and the guest's wall
clock is where it was at the save (QEMU stops guest time while it is not running): the caller
steps it (the guest cannot tell how long the file lay on disk).

```python
saved = save_state(node.qmp, snap_dir / "node01", disk=node.config.disk, timeout=120)
# later, in a new QEMU (NodeConfig(..., incoming=saved, disk=overlay_disk(saved, d / "disk.qcow2")))
resume(restored.qmp, timeout=60)
```

Numbers (bench/node_snapshot.py, bench/README.md): a busybox guest restores in well under a
second where its boot takes seconds under TCG.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError
from harness.machine.qmp import QmpSession
from harness.waits import Clock, Duration, Observation, Sleep, seconds, wait_until

__all__ = ["SavedState", "incoming_args", "overlay_disk", "resume", "save_state"]

STATE_FILE = "state.zst"
DISK_FILE = "disk.qcow2"
MANIFEST = "saved.json"  # written last: a directory without it is an unfinished save
# zstd level 1 on every core: the stream is mostly zero pages and page cache; level 1 keeps
# the save as fast as the disk writes it (a higher level costs seconds for a few MiB).
COMPRESS = "zstd -q -1 -T0"
DECOMPRESS = "zstd -q -dc"
QEMU_IMG_TIMEOUT = 300.0  # seconds: a 1 GiB disk copies in a few; a stuck qemu-img must not hang the run
# `query-migrate` states that end a migration; anything else is still under way.
ENDED = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class SavedState:
    """One saved guest: `state` (the compressed migration stream), `disk` (a standalone copy
    of its disk, None when it had none), the stream's size in bytes and the save's seconds."""

    state: Path
    disk: Path | None
    state_bytes: int
    seconds: float

    @classmethod
    def at(cls, directory: Path) -> SavedState:
        """The saved state in `directory`, as a finished `save_state` left it.

        Raises:
            InfrastructureError: no finished save there (never saved, cut short, or a file
                changed since: its size differs from the manifest's).
        """
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            state = directory / str(manifest["state"])
            disk = directory / str(manifest["disk"]) if manifest["disk"] else None
            state_bytes, took = int(manifest["state_bytes"]), float(manifest["seconds"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InfrastructureError(f"no finished guest save in {directory} ({MANIFEST}: {err})") from err
        size = state.stat().st_size if state.is_file() else None
        if size != state_bytes or (disk is not None and not disk.is_file()):
            raise InfrastructureError(
                f"the guest save in {directory} is damaged: {state.name} is {size} B, "
                f"the manifest says {state_bytes} B{'' if disk is None or disk.is_file() else '; its disk is gone'}"
            )
        return cls(state, disk, state_bytes, took)


def _migration(qmp: QmpSession) -> dict[str, Any]:
    info: dict[str, Any] = qmp.execute("query-migrate")
    return info


def save_state(
    qmp: QmpSession,
    directory: Path,
    *,
    disk: Path | None = None,
    timeout: Duration = 120,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> SavedState:
    """Pause the guest behind `qmp` and save its RAM and device state (and a copy of `disk`,
    its qcow2 image) into `directory`. The guest stays paused: `qmp.cont()` goes on with it,
    or the caller ends it.

    Raises:
        WaitExpired: the migration did not end within `timeout` seconds (it is cancelled).
        InfrastructureError: QEMU reported the migration failed, or the disk copy failed.
    """
    begin = clock()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # the old save is no longer whole from here on
    state, partial = directory / STATE_FILE, directory / f"{STATE_FILE}.partial"
    state.unlink(missing_ok=True)
    partial.unlink(missing_ok=True)
    qmp.stop()  # the state saved is one instant: no page changes while it streams
    to, final = shlex.quote(str(partial)), shlex.quote(str(state))
    qmp.execute("migrate", {"uri": f"exec:{COMPRESS} -o {to} && mv -f {to} {final}"})
    seen: list[dict[str, Any]] = [{}]

    def ended(_left: float) -> Observation:
        seen[0] = _migration(qmp)
        status = str(seen[0].get("status", "?"))
        ram = seen[0].get("ram", {})
        return Observation(ok=status in ENDED, output=f"status {status}, ram {ram.get('transferred', 0)} B sent")

    try:
        wait_until(ended, what=f"migration of the guest state to {partial}", timeout=seconds(timeout),
                   clock=clock, sleep=sleep)  # fmt: skip
    except BaseException:
        qmp.execute("migrate_cancel")
        partial.unlink(missing_ok=True)
        raise
    if seen[0].get("status") != "completed":
        partial.unlink(missing_ok=True)
        raise InfrastructureError(
            f"saving the guest state failed: migration {seen[0].get('status')}: "
            f"{seen[0].get('error-desc', 'QEMU gave no reason')}"
        )
    # `completed` means QEMU has written the stream, not that zstd has flushed and closed the
    # file (QEMU reaps its child later, in a cleanup step). The command renames the file only
    # once zstd has exited 0, so its final name appearing is the proof it is whole.
    _wait_exists(state, partial, timeout=max(1.0, seconds(timeout) - (clock() - begin)), clock=clock, sleep=sleep)
    saved_disk = _copy_disk(disk, directory) if disk is not None else None
    saved = SavedState(state, saved_disk, state.stat().st_size, round(clock() - begin, 3))
    manifest = {"state": state.name, "disk": saved_disk.name if saved_disk else None,
                "state_bytes": saved.state_bytes, "seconds": saved.seconds}  # fmt: skip
    partial_manifest = directory / f"{MANIFEST}.partial"
    partial_manifest.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(partial_manifest, directory / MANIFEST)
    return saved


def _wait_exists(state: Path, partial: Path, *, timeout: float, clock: Clock, sleep: Sleep) -> None:
    def renamed(_left: float) -> Observation:
        size = partial.stat().st_size if partial.exists() else None
        return Observation(ok=state.is_file(), output=f"{partial.name}: {size} B" if size is not None else "")

    try:
        wait_until(renamed, what=f"the compressor to finish {state}", timeout=timeout, clock=clock, sleep=sleep)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _copy_disk(disk: Path, directory: Path) -> Path:
    """A standalone qcow2 copy of `disk` (its backing chain folded in), so the snapshot does
    not depend on the run directory it came from. The migration has flushed it."""
    target, partial = directory / DISK_FILE, directory / f"{DISK_FILE}.partial"
    partial.unlink(missing_ok=True)
    # -U: QEMU still holds the image (paused, inactive); a shared read is safe after the flush.
    try:
        _qemu_img(["convert", "-U", "-O", "qcow2", str(disk), str(partial)], f"copying the disk {disk} for a snapshot")
    except InfrastructureError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    target.chmod(0o444)  # the base of every restore: never written again
    return target


def _qemu_img(args: list[str], what: str) -> None:
    """`qemu-img ARGS` within `QEMU_IMG_TIMEOUT`. (harness.image.tools.run does the same for the
    image build, but importing it pulls the whole image package into every `harness.machine`
    import, cluster-test's start-up included.)

    Raises:
        InfrastructureError: qemu-img is missing, timed out or failed (its stderr quoted).
    """
    try:
        done = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT,
                              check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InfrastructureError(f"{what} failed: qemu-img: {err}") from err
    if done.returncode != 0:
        raise InfrastructureError(f"{what} failed: {done.stderr.strip()}")


def overlay_disk(saved: SavedState, overlay: Path) -> Path:
    """A fresh qcow2 at `overlay` backed by the saved disk (which stays unchanged): one per
    restore, so restores of one snapshot never see each other's writes.

    Raises:
        InfrastructureError: the snapshot has no disk, or qemu-img failed.
    """
    if saved.disk is None:
        raise InfrastructureError(f"the snapshot at {saved.state.parent} has no disk to restore")
    overlay.parent.mkdir(parents=True, exist_ok=True)
    overlay.unlink(missing_ok=True)
    _qemu_img(["create", "-q", "-f", "qcow2", "-b", str(saved.disk.resolve()), "-F", "qcow2", str(overlay)],
              f"creating a restore overlay on {saved.disk}")  # fmt: skip
    return overlay


def incoming_args(saved: SavedState) -> tuple[str, ...]:
    """QEMU arguments that load `saved` at start and keep the guest paused (`-S`) until
    `resume`."""
    return ("-S", "-incoming", f"exec:{DECOMPRESS} {shlex.quote(str(saved.state))}")


def resume(
    qmp: QmpSession, *, timeout: Duration = 60, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
) -> None:
    """Wait until a restored QEMU has loaded its state, then run the guest.

    Raises:
        WaitExpired: the state was not loaded within `timeout` seconds.
        InfrastructureError: the load failed (QEMU says why in its log and `query-migrate`).
    """
    seen: list[str] = [""]

    def loaded(_left: float) -> Observation:
        seen[0] = str(qmp.query_status().get("status"))
        return Observation(ok=seen[0] != "inmigrate", output=f"status {seen[0]}")

    wait_until(loaded, what="the saved guest state to load", timeout=seconds(timeout), clock=clock, sleep=sleep)
    # `postmigrate`: the source after `save_state`; the others: a restored QEMU, loaded.
    if seen[0] not in ("prelaunch", "paused", "running", "postmigrate"):
        info = _migration(qmp)
        raise InfrastructureError(
            f"loading the saved guest state failed: status {seen[0]}, migration {info.get('status')}: "
            f"{info.get('error-desc', 'see the node qemu.log')}"
        )
    qmp.cont()
