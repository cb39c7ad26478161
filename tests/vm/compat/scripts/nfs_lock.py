# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nfs/simple.nix (testScript, read at 13dccba1): two clients
# write to a server's export and take flock(1) locks on one file of it; a lock held by one
# client keeps the other out, is freed when its holder is reset, and survives a server reboot.
# Run with `--nodes 3`: server = node01, client1 = node02, client2 = node03.
#
# Substituted, and why: the image has no NFS (no server, no client modules), so the export is
# served by NETFLOCK below, a small python3 service: `flock` on the export's files, held on
# the server for a client over TCP (port 2049) until the client lets go. It keeps what the test
# looks at from NFS: a client that stops answering loses its locks (TCP keepalive, a few
# seconds, where NFS has its lease/statd), a restarted server lets holders reclaim their locks
# for GRACE seconds before it grants new ones, and clients retry an unreachable server (a hard
# mount). `flock ARGS /data/lock CMD` on a client becomes `FLOCK ARGS node01:/data/lock CMD`,
# `echo bla > /data/foo` becomes `echo bla | PUT w node01:/data/foo`, the server's /data is
# EXPORT. The service and its file live on /var/lib (the node's disk: our root is in RAM), and
# the server's unit is written again after its reboot, where NixOS has it in the image.
# `data.mount` (a client's NFS mount) becomes the client's multi-user.target. Added steps are
# marked "ours"; the subtests, their order and their checks are upstream's.
import tempfile
import time
from pathlib import Path

NETFLOCK = r'''"""NFS stand-in: flock(1) on files of an export, held on the server for a TCP client."""
import fcntl, os, socket, socketserver, subprocess, sys, threading, time

PORT = int(os.environ.get("NETFLOCK_PORT", "2049"))
GRACE = float(os.environ.get("NETFLOCK_GRACE", "15"))  # after a start, only reclaims may lock


def keepalive(sock):  # a peer that stops answering is dropped within ~5 s
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


def serve(export):
    started = time.monotonic()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            keepalive(self.request)
            words = self.rfile.readline().decode().split()
            if not words:  # a port probe
                return
            op, *args = words
            # clients see the export at /data (upstream mounts it there): /data/foo is EXPORT/foo
            path = os.path.join(export, os.path.relpath(args[-1], "/data"))
            if op == "put":  # put w|a NAME, then the data until EOF
                data = self.rfile.read()
                with open(path, args[0] + "b") as f:
                    f.write(data)
                self.wfile.write(b"ok\n")
                return
            kind, how, claim = args[:3]  # lock x|s wait|nb claim|reclaim NAME
            if claim == "claim" and time.monotonic() - started < GRACE:
                self.wfile.write(b"grace\n")
                return
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                mode = fcntl.LOCK_EX if kind == "x" else fcntl.LOCK_SH
                try:
                    fcntl.flock(fd, mode | (fcntl.LOCK_NB if how == "nb" else 0))
                except BlockingIOError:
                    self.wfile.write(b"busy\n")
                    return
                self.wfile.write(b"ok\n")
                try:  # held until the client closes the connection or stops answering
                    while self.request.recv(64):
                        pass
                except OSError:
                    pass
            finally:
                os.close(fd)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    Server(("", PORT), Handler).serve_forever()


def connect(host):  # a hard mount: retry until the server answers
    while True:
        try:
            sock = socket.create_connection((host, PORT), timeout=5)
        except OSError:
            time.sleep(1)
            continue
        sock.settimeout(None)
        keepalive(sock)
        return sock


def request(host, line):
    sock = connect(host)
    answer = b""
    try:
        sock.sendall(line.encode())
        while not answer.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            answer += chunk
    except OSError:  # reset mid-request (a server restarting): no answer, so the caller asks again
        answer = b""
    return sock, answer.decode().strip()


def lock(host, name, kind, how, claim):
    """The connection holding the lock, or None if it is taken and `how` is nb."""
    while True:
        sock, answer = request(host, f"lock {kind} {how} {claim} {name}\n")
        if answer == "ok":
            return sock
        sock.close()
        if answer == "busy":
            return None
        time.sleep(1)  # in the server's grace period, or the server went away: again


def flock(argv):  # flock [-n] [-s|-x] HOST:/PATH (-c COMMAND | COMMAND [ARG...])
    kind, how = "x", "wait"
    while argv[0].startswith("-") and argv[0] != "-c":
        flag = argv.pop(0)
        kind = {"-s": "s", "-x": "x"}.get(flag, kind)
        how = "nb" if flag == "-n" else how
    host, _, name = argv.pop(0).partition(":")
    command = ["/bin/sh", "-c", argv[1]] if argv[0] == "-c" else argv
    held = [lock(host, name, kind, how, "claim")]
    if held[0] is None:
        return 1
    child = subprocess.Popen(command)

    def keep():  # the server went away (a restart): reclaim the lock once it is back
        while child.poll() is None:
            try:
                gone = not held[0].recv(64)
            except OSError:
                gone = True
            if gone and child.poll() is None:
                held[0].close()
                held[0] = lock(host, name, kind, "wait", "reclaim")

    threading.Thread(target=keep, daemon=True).start()
    return child.wait()


def put(mode, target):  # put w|a HOST:/PATH < data
    host, _, name = target.partition(":")
    sock = connect(host)
    sock.sendall(f"put {mode} {name}\n".encode() + sys.stdin.buffer.read())
    sock.shutdown(socket.SHUT_WR)
    return 0 if sock.makefile().readline().strip() == "ok" else 1


if __name__ == "__main__":
    verb, *rest = sys.argv[1:]
    if verb == "serve":
        serve(rest[0])
    sys.exit(flock(rest) if verb == "flock" else put(*rest))
'''

SHIM = "/var/lib/nfs-shim/netflock.py"
EXPORT = "/var/lib/nfs-shim/data"
FLOCK = f"python3 {SHIM} flock"
PUT = f"python3 {SHIM} put"
NFS_SERVER_UNIT = f"""[Unit]
Description=NFS stand-in: flock on {EXPORT} for clients on TCP 2049
[Service]
ExecStart=/usr/bin/python3 {SHIM} serve {EXPORT}
"""

server, client1, client2 = node01, node02, node03
host_dir = Path(tempfile.mkdtemp())
(host_dir / "netflock.py").write_text(NETFLOCK)
(host_dir / "nfs-server.service").write_text(NFS_SERVER_UNIT)


def install(node):
    """Ours: the stand-in on the node's disk (upstream: NFS in the image)."""
    node.copy_from_host(host_dir / "netflock.py", SHIM)


def export(node):
    """Ours: services.nfs.server.enable (the unit goes to /run: the root forgets it on reboot)."""
    node.succeed(f"mkdir -p {EXPORT}")
    node.copy_from_host(host_dir / "nfs-server.service", "/run/systemd/system/nfs-server.service")
    node.succeed("systemctl daemon-reload", "systemctl start nfs-server")


install(server)  # ours
export(server)  # ours
server.wait_for_unit("nfs-server")
server.succeed("systemctl start network-online.target")
server.wait_for_unit("network-online.target")

start_all()

install(client1)  # ours
install(client2)  # ours
client1.wait_for_unit("multi-user.target")
client1.succeed(f"echo bla | {PUT} w {server.name}:/data/foo")
server.succeed(f"test -e {EXPORT}/foo")

client2.wait_for_unit("multi-user.target")
client2.succeed(f"echo bla | {PUT} w {server.name}:/data/bar")
server.succeed(f"test -e {EXPORT}/bar")

with subtest("restarting 'nfs-server' works correctly"):
    server.succeed("systemctl restart nfs-server")
    # will take 90 seconds due to the NFS grace period (ours: writes do not wait for it)
    client2.succeed(f"echo bla | {PUT} a {server.name}:/data/bar")

with subtest("can get a lock"):
    # waits out the grace period (15 s) that the restart above began
    client2.succeed(f"time {FLOCK} -n -s {server.name}:/data/lock true")

with subtest("client 2 fails to acquire lock held by client 1"):
    client1.succeed(f"{FLOCK} -x {server.name}:/data/lock -c 'touch locked; sleep 100000' >&2 &")
    client1.wait_for_file("locked")
    client2.fail(f"{FLOCK} -n -s {server.name}:/data/lock true")

with subtest("client 2 obtains lock after resetting client 1"):
    client2.succeed(f"{FLOCK} -x {server.name}:/data/lock -c 'echo acquired; touch locked; sleep 100000' >&2 &")
    client1.crash()
    client1.start()
    client2.wait_for_file("locked")

with subtest("locks survive server reboot"):
    client1.wait_for_unit("multi-user.target")
    server.shutdown()
    server.start()
    export(server)  # ours: NixOS starts nfs-server at boot
    client1.succeed(f"echo -n | {PUT} a {server.name}:/data/xyzzy")
    client1.fail(f"time {FLOCK} -n -s {server.name}:/data/lock true")

with subtest("unmounting during shutdown happens quickly"):
    t1 = time.monotonic()
    client1.shutdown()
    duration = time.monotonic() - t1
    # FIXME: regressed in kernel 6.1.28, temporarily disabled while investigating
    # assert duration < 30, f"shutdown took too long ({duration} seconds)"
