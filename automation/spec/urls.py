"""Whether a URL can be asked at all, and a header value sent: one judgement for the config's
URLs, peers' hints, `--url` and the tokens we send, so an odd one is a clear error or a
candidate set aside, never a traceback (and never a secret quoted in one).

`urllib.parse` raises only when a part is read (`urlsplit("http://[::1")`, `.port` of
`:99999`), so every place that took a URL from outside had to remember to guard those reads;
a leader that named `http://127.0.0.1:99999` ended `fba join` with exit 70.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit, urlunsplit

from automation.spec.numbers import ascii_number, port_number

SCHEMES = ("http", "https")


def port_problem(text: str) -> str | None:
    """What a port must be that `text` is not, as "a port ..." (None: it is a port): ASCII
    digits, no leading zero, 1-65535. One rule for every host:port and URL: `int()` takes
    full-width and Arabic-Indic digits (`２３８０` passed) and raises on `²`, and `02380` was
    registered as written while a leader that normalises it to `2380` then saw a conflict."""
    if ascii_number(text, limit=65536) is None:
        return "a port of ASCII digits"
    if port_number(text) is None:
        return "a port in 1-65535"
    if text.startswith("0"):  # stricter than a peer's text (`port_number`): ours is registered as written
        return "a port without a leading zero"
    return None


def _port_text(netloc: str) -> str | None:
    """The port as written in a URL's netloc (None: none written)."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        _, bracket, rest = hostport.partition("]")
        return rest[1:] if bracket and rest.startswith(":") and rest[1:] else None
    host, sep, port = hostport.rpartition(":")
    return port if sep and port else None


def host_problem(host: str) -> str | None:
    """Why `host` (a URL's hostname, brackets removed) cannot be looked up (None: it can): the
    resolver (`getaddrinfo`) and TLS's `server_hostname` encode a name with the `idna` codec,
    which raises UnicodeError, not an OSError, for a label over 63 characters, an empty label
    (`a..b`, `.a`) or a character IDNA prohibits (U+0080). Such a host in a peer's hint ended
    `fba join` with exit 70; in the config it validated, then every step ended so."""
    try:
        host.encode("idna")
    except UnicodeError as err:
        reason = str(err.__cause__ or err).removeprefix("UnicodeError: ")
        if "(" in reason:  # "encoding with 'idna' codec failed (UnicodeError: label too long)"
            reason = reason.rpartition("(")[2].rstrip(")").removeprefix("UnicodeError: ")
        rule = "; a DNS label is 1-63 characters" if "label" in reason else ""
        return f"host name {ascii(host[:70])} cannot be looked up ({reason}{rule})"
    return None


def url_problem(url: str) -> str | None:
    """Why `url` cannot be asked (None: it can): not parseable, not http(s), no host, a host
    with a `%` (an IPv6 zone id) or a name that cannot be looked up (`host_problem`), a port
    outside 1-65535, or credentials (`user:password@`: fba never sends them, and they would be
    logged). The text never repeats the URL's credentials."""
    try:
        parts = urlsplit(url)
        port_text = _port_text(parts.netloc)
        bad_port = port_problem(port_text) if port_text is not None else None
        if bad_port is not None:
            return f"port {port_text!a} in the URL: expected {bad_port}"
        port = parts.port
    except ValueError as err:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        return f"not a usable URL ({err})"
    if parts.scheme not in SCHEMES:
        return f"not an http:// or https:// URL (scheme {parts.scheme or 'missing'!r})"
    if not parts.hostname:
        return "no host in the URL"
    if "%" in parts.hostname:
        # An IPv6 zone id (RFC 6874 `[fe80::1%25eth0]`) or a percent-encoded name: urlsplit
        # keeps the `%25` as written and the resolver takes the whole text for a host name, so
        # such a URL validated and every request then failed "name resolution failed" (break
        # 11, H2), pointing at DNS. Refused here, where the config, peers' hints and the
        # transport all judge URLs, so they agree; a zone (link-local) is not supported.
        return (
            f"a '%' in the host {ascii(parts.hostname[:70])} (an IPv6 zone id such as %25eth0, or a "
            "percent-encoded name): fba does not support zone ids; give a global or unique-local "
            "IPv6 address, an IPv4 address or a host name"
        )
    unencodable = host_problem(parts.hostname)
    if unencodable is not None:
        return unencodable
    if port == 0:
        return "port 0 in the URL"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL (user:password@host): fba never sends them, give the host alone"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "a space or control character in the URL"
    return None


_NUMERIC_V4 = re.compile(r"[0-9A-Fa-fXx.]+")


def host_key(host: str) -> str:
    """`host` as the connection resolves it, for comparing hosts: a numeric IPv4 address in any
    form `getaddrinfo` takes (it uses `inet_aton`: `127.0.4`, `2130706436`, `127.000.000.004`,
    `0x7f.0.0.4` all connect to 127.0.0.4) as its dotted quad, an IPv4-mapped IPv6 address
    (`::ffff:7f00:4`) as the IPv4 address it reaches, any other IPv6 address compressed, and a
    name in lower case without a trailing dot. Comparing text let a peer name this node's own
    API as `127.000.000.004` and be followed as the leader."""
    text = host.strip("[]").lower()
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text.partition("%")[0])
        except ValueError:
            return text
        return str(address.ipv4_mapped or address)
    text = text.removesuffix(".")
    if _NUMERIC_V4.fullmatch(text):  # inet_aton also takes trailing junk after a space: not here
        try:
            return socket.inet_ntoa(socket.inet_aton(text))
        except OSError:
            return text
    return text


def is_unspecified(host: str) -> bool:
    """Whether `host` is an unspecified address (`0.0.0.0`, `0`, `::`): a listen address, never
    a node's; a connection to it lands on the local host (Linux)."""
    try:
        return ipaddress.ip_address(host_key(host).partition("%")[0]).is_unspecified
    except ValueError:
        return False


def raised_scheme(url: str, floor: str) -> str:
    """`url` as it may be asked under a configuration whose scheme is `floor`: with TLS
    (`https`) an `http://` URL, whoever named it, becomes `https://` on the same host and port,
    verified as `tls` says, so nothing is sent in clear text because a peer said so. Anything
    else is returned as given (an `https://` URL under an http configuration stays https).
    The one place this rule lives: leader hints, member lists' `api_url`s and peer URLs all
    pass through it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url  # no URL at all: url_problem names it where it would be asked
    if floor == "https" and parts.scheme == "http":
        return urlunsplit(("https", parts.netloc, parts.path, parts.query, parts.fragment))
    return url


def redacted(url: str) -> str:
    """`url` without any `user:password@` part, for messages (unparseable text is kept as is:
    it holds no credentials urlsplit could find either)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, "***@" + parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))


# A path segment or query value this long is taken for a credential on its own (a webhook's
# key, `XyZ9sEcReTpAtH0123456789abcd`), and masked wherever it appears without the rest.
CREDENTIAL_PART_MIN = 16


def credential_free(url: str) -> str:
    """A webhook's URL as logs show it, `scheme://host:port/...`: without its path, query,
    fragment and `user:password@`. Slack, Discord, Teams, Google Chat and Mattermost hooks carry
    their credential in the path or `?token=`/`?key=` (Alertmanager types such URLs `<secret>`),
    so all of it is withheld (break 12, K4). Unparseable text is shown as `(a webhook URL)`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(a webhook URL)"
    if not parts.scheme or not host:
        return "(a webhook URL)"
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment or "?" in url or "#" in url
    return f"{parts.scheme}://{netloc}/" + ("..." if hidden else "")


def url_credentials(url: str) -> list[str]:
    """The parts of a webhook's URL that may be its credential, for the log's redactor: what
    follows the host (path, query, fragment, together and each), `user:password@`, and every
    path segment or query value of at least `CREDENTIAL_PART_MIN` characters (a peer's error
    page quotes the path it refused: Express's `Cannot POST /services/...`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.netloc.rpartition("@")[0], parts.query, parts.fragment]
    if parts.path not in ("", "/"):
        found.append(parts.path)
    after_host = url.partition("//" + parts.netloc)[2] if parts.netloc else ""
    found.append(after_host)
    found += [segment for segment in parts.path.split("/") if len(segment) >= CREDENTIAL_PART_MIN]
    for pair in parts.query.split("&"):
        value = pair.partition("=")[2]
        if len(value) >= CREDENTIAL_PART_MIN:
            found.append(value)
    return [part for part in dict.fromkeys(found) if part and part != "/"]


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot go into an HTTP header (None: it can), without repeating it: it is
    usually a secret (a bearer token). A line break would end the header early; http.client
    refuses it with a ValueError that quotes the whole value, token included."""
    for position, char in enumerate(value):
        if ord(char) < 0x20 and char != "\t" or ord(char) == 0x7F:
            kind = "a line break" if char in "\r\n" else f"control character {ord(char):#04x}"
            return f"{kind} at position {position}"
        if ord(char) > 0x7E:
            return f"a non-ASCII character at position {position}"
    return None


def names_us(listed: str, node_id: str, raft_addr: str) -> bool:
    """Whether a member list's (or a peer list's) `listed` Raft address is this node's `raft_addr`
    (IPv4:port). The one rule for the leader's member lists (`automation.membership`) and the
    config's own peer lists (`spec.config`).

    Besides the same text, our host in another spelling, and `node_id:port` with our port:
    the design's `initial_peers` form `host:port` names a peer by its id (`node01:2380`), and
    a bootstrap cluster's members are listed as its peers were written. Comparing text alone
    made a healthy one-node cluster seeded from `node01:2380` report its own member as a
    conflict."""
    if listed == raft_addr:
        return True
    host, _, port = listed.rpartition(":")
    own_host, _, own_port = raft_addr.rpartition(":")
    if port_number(port) is None or port_number(port) != port_number(own_port):
        return False
    # Hosts as the connection resolves them (`spec.urls.host_key`, the rule for our own API
    # too): `[::ffff:10.0.0.4]` or `10.0.4` under another id is our address all the same.
    return host_key(host) in {host_key(own_host), host_key(node_id)}
