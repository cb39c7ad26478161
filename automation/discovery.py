"""Leader discovery (the design's "future enhancement 2"), per service.

Candidates: a leader hint from the last answer (307 Location, 421 body/`X-Leader-URL`, the
`leader` field of a member list), the service's configured leader URL, the service's peers
(`initial_peers`/`flaredb_peers` on the service's API port), `discovery.peer_urls` (chainfire
API URLs like `leader_url`; flaredb asks the same hosts on its own API port), and DNS SRV
`_<service>._tcp.<cluster_name>` when enabled. Candidates are recomputed on every attempt, so
names are re-resolved and a new leader is found after a failover.

A hint is a candidate, never a verdict (kind D):
- Its scheme is never lower than the configuration's: with `tls.enabled` an `http://` hint is
  rewritten to `https://` on the same host and port (WARN), so it is asked over verified TLS or
  not at all. Nothing is ever sent in clear text because a peer said so. (An `https://` hint
  is kept as it is, verified as `tls` says, even when the configuration uses http.)
- A hint on another service's API port is refused: chainfire's peers are never asked for
  flaredb's member list, nor the other way round.
- Whoever is hinted is asked for its own member list before anything is added there.
- A candidate that fails (no answer, no quorum, no leader, a list of another service) is set
  aside for a while that doubles on each strike (join.retry_delay_s up to
  join.max_retry_delay_s) and the others are tried; no peer is asked more than
  `1 / MIN_GAP_S` times a second.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from automation.errors import ConfigError
from automation.http import HttpClient, Response, TransportError
from automation.log import Logger
from automation.membership import MemberView, parse_view, raft_key
from automation.policy import SYSTEM_CLOCK, Clock, Deadline, parse_retry_after
from automation.spec.causes import Cause
from automation.spec.config import ClusterConfig, with_port
from automation.spec.markers import JOIN_SERVICES, Service
from automation.spec.urls import host_key, names_us, raised_scheme, redacted, url_problem

MIN_GAP_S = 0.25  # at most 4 requests a second to any one peer
LEADERLESS_CAP_S = 4.0  # the longest pause for a peer that answered "no leader"/"no quorum"
LEADERLESS = frozenset({Cause.NO_LEADER.value, Cause.NO_QUORUM.value})


def base_url(url: str) -> str:
    """`scheme://host:port` of `url`; a URL that does not parse is returned as given, for
    `url_problem` to name (this must not raise: peers hand us these)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")).rstrip("/")


def leader_hint(reply: Response) -> str | None:
    """The leader's base URL if this answer names one that can be asked (as named:
    `LeaderFinder.learn` judges it). A hint that is no usable URL (`http://[::1`, port 99999)
    is no hint: the peer that gave it is set aside like one that named none."""
    named: str | None = None
    if reply.status in (301, 302, 307, 308) and reply.headers.get("location"):
        named = reply.headers["location"]
    elif reply.headers.get("x-leader-url"):
        named = reply.headers["x-leader-url"]
    else:
        body = reply.json_object()
        for key in ("leader_url", "leader"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("api_url")
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                named = value
                break
    if named is None or url_problem(named) is not None:
        return None
    return base_url(named)


def leaderless(reply: Response) -> Cause | None:
    """NO_QUORUM/NO_LEADER when a 5xx answer says so (etcd's "no leader", Consul's 500 "No cluster
    leader", the contract's 503 "no quorum"); other 5xx go to the shared table."""
    if reply.status < 500:
        return None
    said = str(reply.json_object().get("error") or reply.excerpt(120)).lower()
    if "quorum" in said:
        return Cause.NO_QUORUM
    if "leader" in said:
        return Cause.NO_LEADER
    return None


def srv_urls(service: Service, cluster_name: str, scheme: str, log: Logger) -> list[str]:
    try:
        import dns.exception
        import dns.resolver
    except ImportError:
        log.warn("DNS SRV discovery enabled but dnspython is not installed; skipping it")
        return []
    name = f"_{service.value}._tcp.{cluster_name}"
    try:
        answers: Any = dns.resolver.resolve(name, "SRV", lifetime=3.0)
    except dns.exception.DNSException as err:
        log.debug("DNS SRV lookup found nothing", name=name, error=type(err).__name__)
        return []
    records = sorted(answers, key=lambda r: (r.priority, -r.weight))
    return [f"{scheme}://{str(r.target).rstrip('.')}:{r.port}" for r in records]


def _port(url: str) -> int | None:
    parts = urlsplit(url)
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def _is_address(host: str) -> bool:
    """Whether `host` (as `host_key` gives it) is an IP address rather than a name."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except (OSError, ValueError):
        return False
    return True


def _resolve(host: str) -> frozenset[str]:
    """The addresses `host` resolves to (`host_key` form); none when it does not resolve. The
    system resolver's own timeouts bound it, as they bound the connection's same lookup."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # gaierror, or a name IDNA cannot encode
        return frozenset()
    return frozenset(host_key(str(info[4][0])) for info in found)


def _peer_key(url: str) -> str:
    """`host:port` of `url` as the connection resolves the host (`spec.urls.host_key`)."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return url
    return f"{host_key(parts.hostname or '')}:{port}"


def same_peer(a: str | None, b: str) -> bool:
    """Whether `a` and `b` reach the same peer (`host_key` and port, as the connection resolves
    them), not whether they are spelt alike: a leader that names itself `VM` when asked as `vm`,
    or `127.9.1` when asked as `127.9.0.1`, names itself (break 9: taken for a hint loop, the
    join never added and the leave never confirmed). None (a URL that could not be one) is no
    peer."""
    return a is not None and _peer_key(a) == _peer_key(b)


def foreign_list(
    config: ClusterConfig,
    service: Service,
    view: MemberView,
    terms: TermFloor | None = None,
    source: str | None = None,
    vouched: bool = False,
) -> str | None:
    """Why this member list is not `service`'s list of this node's cluster (None: it is, as
    far as it can tell). The one rule before any list is used (join, leave, marker check,
    health report, the term floor).

    The service: by its `service` field when it has one; else by its members' Raft ports: a
    list whose members all use another service's Raft port and none ours belongs to that
    service. The cluster (`_other_cluster`): a list of another cluster is no evidence about
    ours, whatever its term (break 12, K11: a discovery peer whose address now serves another
    cluster got this node added there).
    """
    if view.service is not None and view.service != service.value:
        return f"a member list of {view.service}, not {service.value}"
    if view.service is None:
        ours = _port("tcp://" + config.service_raft_addr(service)) or -1
        others = {_port("tcp://" + config.service_raft_addr(s)) or -1: s for s in JOIN_SERVICES if s is not service}
        others.pop(ours, None)
        ports = {m.raft_port or -1 for m in view.members}
        if view.members and ours not in ports and ports <= set(others):
            owner = others[next(iter(ports))]
            return f"a member list of {owner.value}, not {service.value} (its members use Raft port(s) {sorted(ports)})"
    return _other_cluster(config, service, view, terms, source, vouched)


def _raft_host(addr: str) -> str:
    return raft_key(addr).rpartition(":")[0]


def _api_host(url: str | None) -> str:
    try:
        return host_key(urlsplit(url or "").hostname or "")
    except ValueError:
        return ""


def _is_us(config: ClusterConfig, raft_addr: str, key: tuple[str, str]) -> bool:
    """Whether a member (id, Raft address) is this node: a list naming us tells no cluster."""
    return key[0] == config.node_id or names_us(key[1], config.node_id, raft_addr)


def _other_cluster(
    config: ClusterConfig,
    service: Service,
    view: MemberView,
    terms: TermFloor | None,
    source: str | None,
    vouched: bool,
) -> str | None:
    """Why `view` is another cluster's list (None: ours, or nothing to tell by).

    A list that names its cluster (`cluster`, the contract's) is ours only under our
    `cluster_name`. One that does not is judged conservatively by its members, this node
    aside (a list naming only us tells nothing): Raft configurations of one cluster overlap
    from one change to the next, so within one run a list of ours shares a member (same id
    and Raft address) with the lists of ours already read (`TermFloor.keys`); before any was
    read, with the configured peers (by id, or host of its Raft address or API) or the
    configured leader. The configured leader's own answer, and the answer of a leader it named
    (`vouched`: `LeaderFinder.vouched`), are ours by the operator's word. A removed ex-member
    that runs on as a cluster of its own, or an address reused by another cluster, shares none."""
    if view.cluster is not None:
        if view.cluster == config.cluster_name:
            return None
        return f"a member list of cluster {view.cluster!r}, not {config.cluster_name!r}"
    me = config.service_raft_addr(service)
    others = [m for m in view.members if not _is_us(config, me, (m.id, m.raft_addr))]
    leader = config.leader_url_for(service)
    if not others or vouched or (source is not None and same_peer(source, leader)):
        return None
    seen = {key for key in (terms.keys(service) if terms is not None else ()) if not _is_us(config, me, key)}
    if seen:
        if any((m.id, raft_key(m.raft_addr)) in seen for m in others):
            return None
        known = sorted({member_id for member_id, _ in seen if member_id != config.node_id})
        return (
            f"another cluster's list: its members {sorted(m.id for m in others)} share none with the lists of "
            f"this cluster read in this run ({known})"
        )
    for peer in config.peers_for(service):
        peer_id, sep, addr = peer.partition("=")
        host = (addr if sep else peer).rpartition(":")[0]
        # By id, or by host on any port: flaredb's peers may be `initial_peers` (chainfire's port).
        if any(
            m.id == (peer_id if sep else host) or host_key(host) in (_raft_host(m.raft_addr), _api_host(m.api_url))
            for m in others
        ):
            return None
    # The configured leader's host is one of our cluster's hosts (its API port may differ: a
    # proxy, a per-service port).
    leader_host = host_key(urlsplit(leader).hostname or "")
    if any(leader_host in (_raft_host(m.raft_addr), _api_host(m.api_url)) for m in others):
        return None
    return (
        f"another cluster's list: its members {sorted(m.id for m in others)} include neither the configured "
        f"leader {leader} nor any configured peer"
    )


@dataclass(frozen=True)
class TermSeen:
    """A settled list naming a leader, in a Raft term, as one read in this run saw it."""

    term: int
    leader_url: str  # as the list named it
    source: str  # who said it: a candidate's URL, or this node's own service
    keys: frozenset[tuple[str, str]] = frozenset()  # its members (`MemberView.keys`)


@dataclass
class TermFloor:
    """The highest Raft term this run has seen, per service: a floor no list may go below.

    Raft terms never go back. A list of an older term than one fba itself read earlier in the
    same run (from the same URL behind a VIP that failed over to a cut-off ex-leader, from a
    candidate that has stopped answering since, or from this node's own service) is a stale
    leader's: no proof either way (break 11, H1/H3/H6; etcd clients keep the highest revision
    seen for the same reason). Only settled lists that name a leader raise it: a partitioned
    node campaigning alone raises its term without ever leading, and must not hold every real
    leader's list below it. Terms count within one cluster: only lists sharing a member with
    the one judged are compared (`highest(like=...)`; break 12, K11: another cluster's term
    5000 made our term-9 leader's list "stale"). It also keeps the members of every list of
    ours read in the run (`keys`), which tell another cluster's list (`foreign_list`).
    Mutable on purpose: one per command run (`Context.terms`), shared by every finder of that
    run (the marker check's, the join's, the leave's, the report's)."""

    _seen: dict[str, list[TermSeen]] = field(default_factory=dict)
    _keys: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def saw(self, service: Service, view: MemberView, source: str) -> None:
        self._keys.setdefault(service.value, set()).update(view.keys())
        if view.term is None or not view.leader_url or view.unsettled():
            return
        self._seen.setdefault(service.value, []).append(TermSeen(view.term, view.leader_url, source, view.keys()))

    def keys(self, service: Service) -> frozenset[tuple[str, str]]:
        return frozenset(self._keys.get(service.value, ()))

    def highest(self, service: Service, like: MemberView | None = None) -> TermSeen | None:
        """The highest term seen; with `like`, among the lists sharing a member with it."""
        seen = self._seen.get(service.value, [])
        if like is not None and like.members:
            seen = [s for s in seen if s.keys & like.keys()]
        return max(seen, key=lambda s: s.term, default=None)


@dataclass(frozen=True)
class LaterTerm:
    """Why a leader's list is no proof: a later term is known (`newer_leader`)."""

    term: int
    witness: str  # who named it (a candidate, this node's own service, or an earlier read)
    leader: str | None  # the later term's leader as a candidate; None: none to ask but the same peer again

    def detail(self, url: str, view: MemberView) -> str:
        named = f"names leader {self.leader}" if self.leader else "named a leader"
        return f"{url}'s list is of term {view.term}, but {self.witness} {named} in term {self.term}"


def newer_leader(
    http: HttpClient,
    finder: LeaderFinder,
    url: str,
    view: MemberView,
    budget: Deadline,
    request_timeout_s: float,
    unasked: list[str] | None = None,
) -> LaterTerm | None:
    """The one rule before a leader's list ends a step or changes state (break 9, F20; break 10,
    G2/G3; break 11, H1/H3/H6): a LATER term than `view`'s, known from another candidate asked
    now or from any list read earlier in this run (`TermFloor`), or None when none is known.

    A leader cut off from the others (paused, partitioned) still names itself, may claim
    quorum, and lists what was true in its term: a member removed since, or not one added
    since. Its list proves nothing either way: neither "a member" (join, marker check, report)
    nor "not a member"/"gone" (leave). So every other candidate is asked once for its list,
    within `budget` (the callers give it two request timeouts, inside their own deadline;
    candidates that do not answer cannot hold a conclusion for longer); the highest term among
    the settled lists that name a leader wins, and so does the run's floor when it is higher
    (a peer that said term 5 before the add and is set aside now, or the same URL in another
    term: Raft terms never go back). The later term's leader is asked next when it can be
    (`LaterTerm.leader`); when it cannot (the same peer, this node), the caller reads again
    within its deadline. A candidate set aside (no answer, a Retry-After not yet over) is not
    asked: its pause holds for witness reads too. A list without a `term` is not compared
    (then the leader's list stands, as before).

    `unasked` gets the candidates `budget` left unasked: the join and the leave go on without
    them (a candidate that cannot answer in time cannot hold a step), the health report says
    its conclusion was not checked (it reports, it does not act)."""
    if view.term is None:
        return None
    finder.saw(view, url)
    best: LaterTerm | None = None
    for other in finder.candidates():
        if same_peer(other, url) or finder.held(other):
            continue
        if budget.expired():
            if unasked is not None:
                unasked.append(other)
            continue
        try:
            reply = http.request("GET", f"{other}/admin/members", timeout=budget.cap(request_timeout_s))
        except TransportError:
            continue
        seen = parse_view(reply) if reply.ok else None
        if seen is None or seen.term is None or not seen.leader_url or seen.unsettled():
            continue
        if foreign_list(finder.config, finder.service, seen, finder.terms, other, finder.vouched(other)):
            continue
        finder.saw(seen, other)
        leader = finder.normalise(seen.leader_url)
        if leader is None or same_peer(leader, url) or seen.term <= max(view.term, best.term if best else 0):
            continue  # the same peer in a later term: the floor below says so
        best = LaterTerm(seen.term, other, leader)
    floor = finder.terms.highest(finder.service, like=view)
    if floor is not None and floor.term > max(view.term, best.term if best else 0):
        leader = finder.normalise(floor.leader_url)
        if leader is not None and (same_peer(leader, url) or finder.is_own(leader)):
            leader = None
        best = LaterTerm(floor.term, floor.source, leader)
    if best is not None:
        finder.log.warn(
            f"{best.detail(url, view)}: a stale leader's list proves nothing; "
            + (f"asking {best.leader}" if best.leader else "reading again"),
            leader_url=best.leader or url,
        )
    return best


@dataclass
class _Strikes:
    count: int = 0
    until: float = 0.0
    last_asked: float = -1e9
    reason: str = ""


@dataclass
class LeaderFinder:
    """Mutable on purpose: it remembers the latest hint and set-aside peers across attempts."""

    config: ClusterConfig
    service: Service
    log: Logger
    clock: Clock = SYSTEM_CLOCK
    hint: str | None = None
    _rotation: int = field(default=0)
    _peers: dict[str, _Strikes] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)  # each odd candidate is named once per run
    _chain: set[str] = field(default_factory=set)  # peers asked through hints in a row (`asked`)
    _chain_urls: list[str] = field(default_factory=list)
    looped: bool = False  # the last hint refused went back into the chain (`learn`)
    _addresses: dict[str, frozenset[str]] = field(default_factory=dict)  # host name -> what it resolves to
    _dropped: dict[str, str] = field(default_factory=dict)  # configured candidate -> why it is not one
    terms: TermFloor = field(default_factory=TermFloor)  # the run's (`Context.terms`); a fresh one alone

    def saw(self, view: MemberView, source: str) -> None:
        """Every list of this service read in the run raises the floor (`TermFloor`)."""
        self.terms.saw(self.service, view, source)

    def saw_own(self, own: MemberView | None, cluster: MemberView) -> None:
        """This node's own service as a witness of a later term for `cluster`'s list (never a
        proof: break 11, H6). Only when the leader it names is another member of that list:
        terms count within one cluster, and a service that leads a cluster of its own (or
        follows a leader the list does not know) counts its terms apart."""
        if own is None or not own.leader_url or self.is_own(own.leader_url):
            return
        named = own.leader_id is not None and own.leader_id != self.config.node_id and cluster.find(own.leader_id)
        if named or any(m.api_url and same_peer(m.api_url, own.leader_url) for m in cluster.members):
            self.saw(own, f"this node's own {self.service.value} service")

    def vouched(self, url: str) -> bool:
        """Whether `url` is the configured leader, or was reached from it through hints in a
        row (a 307/421 or a list's `leader`): its list is this cluster's by the operator's word
        (`foreign_list`), whether or not it lists the follower that named it."""
        leader = self.config.leader_url_for(self.service)
        if same_peer(url, leader):
            return True
        chain = self._chain_urls
        return bool(chain) and same_peer(chain[0], leader) and any(same_peer(u, url) for u in chain)

    def warn_once(self, key: str, message: str, **context: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warn(message, **context)

    @property
    def scheme(self) -> str:
        """The configuration's scheme for this service: every candidate uses it."""
        return urlsplit(self.config.leader_url_for(self.service)).scheme

    def candidates(self) -> list[str]:
        urls = [self.config.leader_url_for(self.service)]
        port = self.config.endpoint(self.service).api_port
        for peer in self.config.peers_for(self.service):
            _, sep, addr = peer.partition("=")
            host = (addr if sep else peer).rpartition(":")[0]
            urls.append(f"{self.scheme}://{host}:{port}")
        for url in self.config.discovery.peer_urls:
            urls.append(url if self.service is Service.CHAINFIRE else with_port(url, port))
        if self.config.discovery.dns_srv:
            urls += srv_urls(self.service, self.config.cluster_name, self.scheme, self.log)
        checked = []
        self._dropped = {}
        for url in urls:
            usable, why = self._check(url, source="configured")
            # Never our own API, not even when nothing else is left: its list proves nothing (a
            # joining node's config cannot name only itself; a bootstrap node's may, for `leave`).
            if usable is not None and self.is_own(usable):
                usable, why = None, f"is this node's own API for {self.service.value}, whose list proves nothing"
            if usable is None:
                self._dropped.setdefault(redacted(url), why)
            else:
                checked.append(usable)
        return list(dict.fromkeys(checked))

    def is_own(self, url: str) -> bool:
        """Whether `url` is this node's own API for the service (`ClusterConfig.is_own_api`, the
        one rule). Our own service lists us once it formed a cluster of its own, so its list
        proves nothing: it is never a candidate nor a leader, however a peer names it (list
        `leader`, 307, 421) or however the configuration spells it.

        A host NAME on the service's API port that resolves to this node's address is ours too:
        the configuration names this node by its address, but `discovery.peer_urls`, DNS SRV
        (which lists every node, this one included) or a peer may name it by a name (break 9:
        `vm`, this node's address in /etc/hosts, was asked, and its one-node list proved a join
        that never happened). Names are resolved once per run, as the connection would."""
        if self.config.is_own_api(self.service, url):
            return True
        try:
            parts = urlsplit(url)
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return False
        host = host_key(parts.hostname or "")
        if port != self.config.endpoint(self.service).api_port or not host or _is_address(host):
            return False  # another port is another service; an address was judged by `is_own_api`
        if host not in self._addresses:
            self._addresses[host] = _resolve(host)
        # Any address of this host, not only the advertised one: Debian maps the machine's own
        # name to 127.0.1.1, and a name that resolves to 0.0.0.0 lands here too (break 10, G4).
        return any(self.config.is_this_host(address) for address in self._addresses[host])

    def _checked(self, url: str, *, source: str) -> str | None:
        return self._check(url, source=source)[0]

    def _check(self, url: str, *, source: str) -> tuple[str | None, str]:
        """`url` as a candidate, or None and why not: never a lower scheme than the
        configuration's (an `http://` hint under TLS is asked as `https://`; an `https://` hint
        is kept, verified as configured), never another service's port, and never, when a peer
        named it, this node's own API."""
        problem = url_problem(url)
        if problem is not None:
            self.warn_once(url, f"Ignoring {source} leader candidate {redacted(url)}: {problem}", url=redacted(url))
            return None, f"is no usable URL: {problem}"
        url = base_url(url)
        parts = urlsplit(url)
        if source != "configured" and self.is_own(url):
            self.warn_once(
                url,
                f"Ignoring {source} leader {url}: that is this node's own {self.service.value} API, whose list "
                "proves nothing (only the leader's list does)",
                leader_url=url,
            )
            return None, f"is this node's own API for {self.service.value}, whose list proves nothing"
        rewritten = raised_scheme(url, self.scheme)
        if rewritten != url:
            self.warn_once(
                url,
                f"{source.capitalize()} leader candidate {url} uses {parts.scheme}://; asking {rewritten} instead "
                f"(the scheme is the configuration's, never a peer's)",
                leader_url=rewritten,
            )
            url = rewritten
        owner = self.config.port_owner(self.service, url)  # the rule config validation uses
        if owner is not None:
            self.warn_once(
                url,
                f"Ignoring {source} leader candidate {url}: that is {owner.value}'s API port, "
                f"and {self.service.value}'s member list is only asked of {self.service.value}",
                leader_url=url,
            )
            return None, f"is on {owner.value}'s API port"
        return url, ""

    def _strikes(self, url: str) -> _Strikes:
        """One record per peer, not per spelling of its URL: a dead host named `127.1`,
        `2130706433` and `127.0.0.1` got three fresh first strikes (and three rate limits)."""
        return self._peers.setdefault(_peer_key(url), _Strikes())

    def _set_aside(self, url: str) -> bool:
        return self._strikes(url).until > self.clock.monotonic()

    held = _set_aside  # public: `newer_leader` asks no witness that is set aside

    def next(self) -> str:
        """The hinted leader if any, else the candidates in turn, skipping those set aside; when
        every one is set aside, the one that comes back first (`wait_for` says how long)."""
        if self.hint and not self._set_aside(self.hint):
            return self.hint
        self.hint = None
        options = self.candidates()
        if not options:
            # Each dropped candidate with its own reason: this said "this node's own API" for
            # all of them, also for a leader on another service's port (break 9, F19).
            why = "; ".join(f"{url} {reason}" for url, reason in self._dropped.items())
            raise ConfigError(
                f"no {self.service.value} leader to ask: every configured candidate was dropped "
                f"({why or 'none configured'}); fix the configuration's leader URLs or peers"
            )
        ready = [u for u in options if not self._set_aside(u)]
        if not ready:
            return min(options, key=lambda u: self._strikes(u).until)
        url = ready[self._rotation % len(ready)]
        self._rotation += 1
        return url

    def wait_for(self, url: str) -> float:
        """Seconds before `url` may be asked: its set-aside time, and the per-peer rate limit."""
        strikes = self._strikes(url)
        now = self.clock.monotonic()
        return max(0.0, strikes.until - now, strikes.last_asked + MIN_GAP_S - now)

    def take(self, deadline: Deadline, *, may_end: bool) -> str | None:
        """The next peer to ask (`next`), once it may be asked (`wait_for`), marked `asked`.

        None when it cannot be asked in time: at once when `may_end` (the caller holds an
        answer to end with, so the step ends now, not at its deadline: break 8), else once
        waiting for it ran out `deadline`. Join and leave both take their peers here."""
        url = self.next()
        wait = self.wait_for(url)  # set aside (maybe by its Retry-After), or the rate limit
        if may_end and wait > deadline.remaining():
            return None
        deadline.sleep(wait)
        if deadline.expired():
            return None
        self.asked(url)
        return url

    def asked(self, url: str) -> None:
        """`url` is being asked now: the rate limit counts from here, and it joins the chain of
        peers asked through hints in a row (`learn` refuses a hint back into that chain)."""
        self._strikes(url).last_asked = self.clock.monotonic()
        self._chain.add(_peer_key(url))
        self._chain_urls.append(url)

    def end_chain(self) -> None:
        """The last answer was not a hint to follow: the next hint starts a new chain."""
        self._chain.clear()
        self._chain_urls.clear()

    def learn(self, url: str | None) -> bool:
        """Take a hint as the next candidate; False when it is refused or set aside."""
        if not url:
            return False
        checked = self._checked(url, source="hinted")
        if checked is None:
            return False
        if self._set_aside(checked):
            self.log.info("Leader hint names a peer that is set aside; trying the others", leader_url=checked)
            return False
        self.looped = False
        if _peer_key(checked) in self._chain:
            # Peers naming each other (stale followers after an election): following the loop
            # never reached the leader the rotation would have (break 8: 30 requests, the real
            # leader in initial_peers never asked). The caller sets the named-again peer's
            # herald aside; the rotation goes on.
            self.log.warn(
                "Leader hints go round in a loop; trying the other candidates",
                leader_url=checked,
                loop=" -> ".join([*self._chain_urls, checked]),
            )
            self.hint = None
            self.end_chain()
            self.looped = True
            return False
        if checked != self.hint:
            self.log.info("Leader hint", leader_url=checked)
            self.hint = checked
        return True

    same_peer = staticmethod(same_peer)  # the module's rule, as the finder's users reach it

    def normalise(self, url: str) -> str | None:
        """A URL compared with candidates (None: it could never be one)."""
        return self._checked(url, source="named") if url else None

    def prefer(self, url: str) -> None:
        """Ask `url` again next (to read back what was just done there)."""
        self.hint = url

    def forget(self) -> None:
        """The hinted leader failed us; fall back to the candidate list."""
        self.hint = None

    def set_aside(self, url: str, reason: str, *, base_s: float, cap_s: float, reply: Response | None = None) -> float:
        """Do not ask `url` for a while that doubles per strike, and never sooner than the
        Retry-After of its `reply`, if given; returns how long.

        A peer that answered but knows no leader (an election) is capped at
        `LEADERLESS_CAP_S`: with every candidate on the same doubling pause, none was asked for
        up to `cap_s` (16 s) after the election ended (break 8: the new leader found 14-16 s
        late)."""
        strikes = self._strikes(url)
        strikes.count += 1
        if reason in LEADERLESS:
            cap_s = min(cap_s, max(base_s, LEADERLESS_CAP_S))
        after = (
            parse_retry_after(
                reply.headers.get("retry-after"), now_wall=self.clock.wall(), date=reply.headers.get("date")
            )
            if reply
            else None
        )
        pause = max(float(min(cap_s, base_s * 2.0 ** (strikes.count - 1))), after or 0.0)
        strikes.until = self.clock.monotonic() + pause
        strikes.reason = reason
        if self.hint == url:
            self.hint = None
        self.log.info("Leader candidate set aside", leader_url=url, cause=reason, pause_s=round(pause, 3))
        return pause

    def clear(self, url: str) -> None:
        """`url` answered as the leader: its next failure starts from the shortest pause again."""
        strikes = self._strikes(url)
        strikes.count, strikes.until = 0, 0.0
