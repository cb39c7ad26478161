#!/fba-initramfs/busybox sh
# /init of the node's netboot initramfs.
#
# The Debian root travels as a zstd squashfs inside this initramfs and is mounted read-only
# under a tmpfs overlay, so only the compressed image (~55 MB) stays in guest RAM; a ramfs
# root held every unpacked byte (~200 MB) for the life of the node. The later initrd layers
# (deps, code) were unpacked by the kernel over the directory skeleton next to this script;
# they are copied into the overlay, then switch_root frees this initramfs and starts systemd.
# Any failure prints one FBA-INIT FATAL line and exits, which panics the kernel (panic=-1,
# -no-reboot): the harness sees the line and stops waiting at once.
B=/fba-initramfs/busybox
M=/fba-initramfs

fatal() {
    echo "FBA-INIT FATAL: $*"
    exit 1
}

$B mount -t devtmpfs devtmpfs /dev || fatal "cannot mount devtmpfs on /dev"
$B mount -t proc proc /proc || fatal "cannot mount /proc"
for ko in "$M"/modules/*.ko; do
    [ -e "$ko" ] || continue  # the glob matched nothing: all built in
    $B insmod "$ko" || fatal "insmod $ko failed"
done
$B mkdir -p "$M/lower" "$M/rw" "$M/root" || fatal "cannot create mount points under $M"
$B mount -t squashfs -o ro,loop "$M/root.squashfs" "$M/lower" || fatal "cannot mount $M/root.squashfs"
$B mount -t tmpfs -o mode=0755 tmpfs "$M/rw" || fatal "cannot mount the tmpfs for the overlay"
$B mkdir "$M/rw/upper" "$M/rw/work" || fatal "cannot create the overlay directories"
$B mount -t overlay -o "lowerdir=$M/lower,upperdir=$M/rw/upper,workdir=$M/rw/work" overlay "$M/root" \
    || fatal "cannot mount the overlay root"
cd / || fatal "cannot cd /"
for entry in *; do
    case "$entry" in fba-initramfs | init | dev | proc | sys) continue ;; esac
    if [ -d "$entry" ] && [ ! -L "$entry" ]; then
        $B cp -a "$entry" "$M/root/" || fatal "cannot copy the layer files under /$entry into the root"
    fi
done
$B umount /proc || fatal "cannot unmount /proc"
$B umount /dev || fatal "cannot unmount /dev"
# switch_root must run as PID 1, hence exec; if it fails it says why and the kernel panics.
exec $B switch_root "$M/root" /lib/systemd/systemd "$@"
