#!/bin/sh
# Persistent /var/lib: mount the disk with virtio serial "varlib" if this VM has one.
# First use: mkfs.ext4 and copy the image's /var/lib onto it (else dpkg and systemd state
# would be hidden under the mount). Prints one "FBA-VARLIB ..." console line.
set -eu
dev=/dev/disk/by-id/virtio-varlib
# Coldplug has queued the virtio-blk device by now; settle waits for its symlinks (bounded).
udevadm settle --timeout=30 || echo "fba-varlib: udevadm settle timed out after 30 s; checking anyway"
if [ ! -b "$dev" ]; then
    echo "FBA-VARLIB absent (no $dev; /var/lib stays on the tmpfs root)"
    exit 0
fi
action=existing
if ! blkid -p "$dev" >/dev/null 2>&1; then
    mkfs.ext4 -q -F -L varlib "$dev"
    staging=$(mktemp -d /run/fba-varlib.XXXXXX)
    mount -t ext4 "$dev" "$staging"
    cp -a /var/lib/. "$staging"/
    umount "$staging"
    rmdir "$staging"
    action=formatted
fi
mount -t ext4 -o defaults "$dev" /var/lib
echo "FBA-VARLIB $action dev=$(readlink -f "$dev")"
