"""TCP relay for a rootless fabric: runs INSIDE the user+network namespace, listens on a unix
socket path OUTSIDE it (pathname unix sockets are found through the filesystem, not the network
namespace), and dials TCP inside for every client.

Why a process and not setns(2): a multithreaded process may not enter a user namespace
(setns fails with EINVAL), and the harness is multithreaded (node threads, paramiko). See
`harness.network.userns.connect_in_userns`, the client side.

Protocol, one connection per dial: the client sends `CONNECT <host> <port> <timeout>\\n`; the
relay answers `OK\\n` and then copies bytes both ways until both sides are closed, or
`ERR <kind> <message>\\n` (kind: refused, timeout, unreachable, error) and closes.

Standard library only, run as a script (`python -I _relay.py SOCKET`): it must not depend on the
harness being importable inside the namespace. It prints `ready` once listening and exits when
its stdin reaches EOF, i.e. when the harness that started it is gone.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

HEADER_MAX = 512
HEADER_TIMEOUT = 10.0
CHUNK = 65536


def _read_header(conn: socket.socket) -> str:
    """The request line, read byte by byte: nothing after the newline may be consumed here."""
    conn.settimeout(HEADER_TIMEOUT)
    data = bytearray()
    while len(data) < HEADER_MAX:
        byte = conn.recv(1)
        if not byte:
            break
        if byte == b"\n":
            return data.decode("ascii", "replace")
        data += byte
    raise ValueError("no request line")


def _kind(err: OSError) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, TimeoutError):  # socket.timeout is TimeoutError since 3.10
        return "timeout"
    if err.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
        return "unreachable"
    return "error"


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy src -> dst until EOF; then half-close dst so the far side sees EOF too."""
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        # A reset on either side ends both directions: unblock the other pump's recv.
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(conn: socket.socket) -> None:
    upstream: socket.socket | None = None
    try:
        try:
            word, host, port, timeout = _read_header(conn).split()
            if word != "CONNECT":
                raise ValueError(word)
        except (OSError, ValueError) as err:
            conn.sendall(f"ERR error bad request: {err}\n".encode())
            return
        try:
            upstream = socket.create_connection((host, int(port)), timeout=float(timeout))
        except OSError as err:
            message = " ".join(str(err).split())
            conn.sendall(f"ERR {_kind(err)} {message}\n".encode())
            return
        upstream.settimeout(None)
        conn.settimeout(None)
        conn.sendall(b"OK\n")
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()
    except OSError:
        pass
    finally:
        conn.close()
        if upstream is not None:
            upstream.close()


def _exit_on_eof() -> None:
    """The harness holds our stdin: EOF means it is gone, and so is any reason to relay."""
    try:
        while os.read(0, 4096):
            pass
    finally:
        os._exit(0)


def main(path: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    threading.Thread(target=_exit_on_eof, daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1])
