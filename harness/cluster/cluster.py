"""A cluster under test: one network namespace, a bridge, and node01..N in QEMU.

`Cluster` is a context manager. Entering builds (or reuses) the netboot image, probes KVM,
creates the namespace with one tap per node, a persistent /var/lib disk and an injection blob
per node; `start_all()` boots them. Leaving collects every node's console and journal into
the run directory and tears everything down (unless `keep`), also on errors and signals:
the fabric and nodes are registered with the shared reaper.

    with Cluster(ClusterOptions(run_dir=Path("out/run1"))) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        cluster["node01"].wait_for_unit("cluster-health-check.service")
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.cluster import pace
from harness.cluster.snapshot import ClusterSnapshot, fingerprint, load_cluster, save_cluster
from harness.cluster.topology import NodeSpec, Secrets, Topology
from harness.errors import HarnessError, InfrastructureError
from harness.log import RunLog
from harness.machine.accel import Accel, AccelChoice, choose_accel
from harness.machine.config import BootImage, NodeConfig, direct_boot
from harness.machine.node import Node
from harness.machine.qemu import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TB_SIZE_MB,
    PREBUILT_MEMORY_MB,
    PxeBoot,
    TapNic,
    write_sercon_port,
)
from harness.machine.snapshot import SavedState, overlay_disk
from harness.machine.ssh import SshKey
from harness.network import Fabric
from harness.slowness import Slowness
from harness.waits import MIN_ATTEMPT, WaitExpired

DISK_SIZE = "1G"
FIRST_SSH_PORT = 2201


@dataclass(frozen=True)
class PrebuiltImage:
    """Kernel + initrd + command line given on the command line (e.g. built by Nix)."""

    kernel: Path
    initrd: Path
    cmdline: str | tuple[str, ...]


@dataclass(frozen=True)
class ClusterOptions:
    run_dir: Path
    topology: Topology = field(default_factory=Topology)
    image: BootImage | None = None  # None: the Debian builder's image (built or cached)
    require_kvm: bool = False
    pxe: bool = False
    memory_mb: int | None = None  # None: DEFAULT_MEMORY_MB, or PREBUILT_MEMORY_MB for a prebuilt image
    tb_size_mb: int | None = None  # TCG translation cache (None: DEFAULT_TB_SIZE_MB); unused under KVM
    boot_base_s: float = pace.BOOT_BASE_S  # QEMU start -> READY, x the slowness factor (harness.slowness)
    tcg_factor: float | None = None  # None: measured from the first boot
    node_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    node_failpoints: Mapping[str, str] = field(default_factory=dict)
    keep: bool = False
    # The nodes may be kept past this process (`--keep-on-failure`: decided at the end): QEMU is
    # then not tied to it (NodeConfig.outlive_parent). `keep` implies it.
    may_keep: bool = False
    validate_configs: bool = True
    deadline: float | None = None  # absolute time.monotonic() by which every wait must end
    # A cluster snapshot (harness.cluster.snapshot) to restore instead of booting: the nodes
    # come back formed, as they were saved, in this run's own namespace.
    restore_from: Path | None = None


SLOW_HOST_ENV: Mapping[str, str] = {"STANDIN_RAFT_PROFILE": "slow"}
"""Under TCG the stand-ins' Raft gets election timeouts longer than a guest's stalls: with the
default 0.4-1.4 s, a healed partition kept flaredb leaderless for minutes on a busy host
(every stall of a node started an election; tests/integration/standins/test_raft_stalls.py)."""


def node_env(options: ClusterOptions, name: str, accel: Accel) -> dict[str, str]:
    """The environment injected into `name`: the platform's, then the scenario's (wins)."""
    base = dict(SLOW_HOST_ENV) if accel is Accel.TCG else {}
    return {**base, **options.node_env.get(name, {})}


def guest_memory_mb(options: ClusterOptions) -> int:
    """The guest RAM each node gets: the option if set, else what the image needs."""
    if options.memory_mb is not None:
        return options.memory_mb
    return PREBUILT_MEMORY_MB if isinstance(options.image, PrebuiltImage) else DEFAULT_MEMORY_MB


class Cluster:
    def __init__(self, options: ClusterOptions, log: RunLog | None = None) -> None:
        self.options = options
        self.topology = options.topology
        self.log = log or RunLog(events_path=options.run_dir / "events.jsonl")
        self.secrets = Secrets()
        self.ssh_key = SshKey.generate()
        self.nodes: dict[str, Node] = {}
        self.fabric: Fabric | None = None
        self.accel: AccelChoice | None = None
        self.image: BootImage | None = None
        self.started_at: float | None = None
        self._slowness: Slowness | None = None  # measured (or told); None: not yet
        self.restored: ClusterSnapshot | None = None  # set by up() when restoring a snapshot

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.options.keep:
            self.print_attach()
            return
        self.down()

    def __getitem__(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise HarnessError(f"no node {name!r}; nodes: {', '.join(self.nodes)}") from None

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def up(self) -> None:
        run_dir = self.options.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        with self.log.nested("preparing the netboot image"):
            self.image = self.options.image or _debian_image(self.log)
        self.accel = choose_accel(Path(self.image.kernel), require_kvm=self.options.require_kvm)
        self.log.event("accel", self.accel.headline, accel=self.accel.accel.value)
        if self.accel.accel is Accel.TCG:
            self.log.warn_loudly(self.accel.headline)
        else:
            self.log.log(self.accel.headline)
        if self.options.restore_from is not None:
            with self.log.nested(f"checking the snapshot {self.options.restore_from}"):
                self.restored = load_cluster(self.options.restore_from, expect=self.fingerprint())
                self.ssh_key, self.secrets = self.restored.ssh_key, self.restored.secrets
                factor = self.restored.slowness_factor
                self._slowness = Slowness(factor, "measured on the boot the snapshot was made from")
                self.log.log(self.restored.summary())
        names = [n.name for n in self.topology.nodes]
        with self.log.nested(f"creating network namespace with {len(names)} taps"):
            self.fabric = Fabric(names, prefix="fba")
            self.fabric.__enter__()
        for index, spec in enumerate(self.topology.nodes):
            self.nodes[spec.name] = self._make_node(spec, FIRST_SSH_PORT + index)
        (run_dir / "cluster.json").write_text(json.dumps(self.describe(), indent=2) + "\n")

    def _make_node(self, spec: NodeSpec, ssh_port: int) -> Node:
        from harness.image import FATAL_CONSOLE_PATTERN, FW_CFG_NAME, READY_PATTERN, NodeInjection, write_injection

        if self.fabric is None or self.image is None or self.accel is None:
            raise InfrastructureError("cluster: nodes are made after the fabric and the image")
        node_dir = self.options.run_dir / "nodes" / spec.name
        node_dir.mkdir(parents=True, exist_ok=True)
        # A restore reuses the injection its guests already read: QEMU needs the same fw_cfg file.
        blob = self.restored.blobs.get(spec.name) if self.restored is not None else None
        if blob is None:
            files = self.secrets.node_files(self.topology, spec, validate=self.options.validate_configs)
            blob = write_injection(
                NodeInjection(
                    hostname=spec.name,
                    cluster_mac=spec.mac,
                    cluster_cidr=spec.cidr,
                    hosts=self.topology.hosts,
                    cluster_config=files.config_json,
                    files=files.files,
                    authorized_keys=self.ssh_key.public_line + "\n",
                    env=node_env(self.options, spec.name, self.accel.accel),
                    failpoints=self.options.node_failpoints.get(spec.name),
                ),
                node_dir / "inject.json",
            )
        disk = node_dir / "varlib.qcow2"
        saved: SavedState | None = None
        if self.restored is not None:
            saved = self.restored.nodes.get(spec.name)
            if saved is None:
                raise InfrastructureError(f"the snapshot {self.restored.directory} has no {spec.name}")
            disk = overlay_disk(saved, disk)
        elif not disk.exists():
            _run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), DISK_SIZE], "create the /var/lib disk")
        boot = direct_boot(self.image)
        if self.options.pxe:
            from harness.image.ipxe import write_tftp_dir

            tftp = node_dir / "tftp"
            write_tftp_dir(_pxe_image(self.image), tftp)  # type: ignore[arg-type]
            boot = PxeBoot(write_sercon_port(node_dir / "sercon"), nic="user", tftp_dir=tftp)  # type: ignore[assignment]
        config = NodeConfig(
            name=spec.name,
            state_dir=node_dir,
            boot=boot,
            accel=self.accel.accel,
            memory_mb=guest_memory_mb(self.options),
            tb_size_mb=self.options.tb_size_mb or DEFAULT_TB_SIZE_MB,
            ssh_port=ssh_port,
            ssh_key=self.ssh_key,
            tap=TapNic(self.fabric.port(spec.name), spec.mac),
            disk=disk,
            fw_cfg=blob,
            fw_cfg_name=FW_CFG_NAME,
            launch_prefix=self.fabric.exec_prefix,
            outlive_parent=self.options.keep or self.options.may_keep,
            ready_pattern=READY_PATTERN,
            fatal_pattern=FATAL_CONSOLE_PATTERN,
            boot_timeout=self.prior_slowness().budget(self.options.boot_base_s),
            restore=saved,
        )
        return Node(
            config,
            log=self.log.for_node(spec.name),
            link=self.fabric,
            sock_factory=self.fabric.connect,
            deadline_cap=self.options.deadline,
            out_dir=node_dir / "out",
        )

    def start_all(self) -> None:
        """Start every node: a boot, or with `restore_from` a restore (all nodes load paused,
        then resume together, then their clocks are stepped to the host's)."""
        self.started_at = time.monotonic()
        for node in self.nodes.values():
            node.start()
        if self.restored is not None:
            self.resume_all()
            self.step_clocks()
        self.write_attach()

    def resume_all(self) -> None:
        """Run every node again (after `snapshot`, or once restored nodes have loaded)."""
        for node in self.nodes.values():
            node.resume(timeout=self.budget(60.0))

    def step_clocks(self) -> None:
        """Set each guest's wall clock to the host's: QEMU stopped guest time while the
        snapshot lay on disk. Also proves each restored node answers over SSH.

        Raises:
            WaitExpired / CommandFailed: a node did not answer, or refused the new time.
        """
        for node in self.nodes.values():
            node.succeed(f"date -u -s @{time.time():.3f} >/dev/null", timeout=self.budget(60.0))

    def snapshot(self, directory: Path) -> ClusterSnapshot:
        """Save the running cluster into `directory` (see harness.cluster.snapshot) and let it
        go on running."""
        with self.log.nested(f"saving a snapshot of {', '.join(self.nodes)} to {directory}"):
            saved = save_cluster(self, directory, timeout=self.budget(300.0))
            self.log.log(saved.summary())
        self.resume_all()
        self.step_clocks()
        return saved

    def fingerprint(self) -> dict[str, str]:
        """What a snapshot of this cluster is made for (harness.cluster.snapshot.fingerprint)."""
        if self.image is None or self.accel is None:
            raise InfrastructureError("cluster: the fingerprint needs the image and the accelerator")
        return fingerprint(self.image, self.topology, accel=self.accel.accel.value,
                           memory_mb=guest_memory_mb(self.options))  # fmt: skip

    def write_attach(self) -> Path:
        """ssh/QMP/console commands per node, written as soon as the nodes run, so a person can
        look inside while a run is still going (the key file is 0600 in the run directory)."""
        path = self.options.run_dir / "attach.json"
        path.write_text(json.dumps(self.attach_info(), indent=2) + "\n")
        return path

    # -- pace: every boot, readiness and scenario wait is a base budget x this factor --------

    def _told(self) -> float | None:
        """`--tcg-factor`, which applies under TCG only."""
        tcg = self.accel is not None and self.accel.accel is Accel.TCG
        return self.options.tcg_factor if tcg else None

    def prior_slowness(self) -> Slowness:
        """The factor before any boot is measured: told, or the accelerator's prior."""
        told = self._told()
        if told:
            return Slowness.told(told)
        tcg = self.accel is not None and self.accel.accel is Accel.TCG
        return Slowness.assumed_tcg() if tcg else Slowness.kvm()

    def slowness(self) -> Slowness:
        """The run's slowness factor, measured once from the first node that was started
        (its network-online time); the prior while no node runs. Printed when measured.

        Raises:
            WaitExpired: that node did not reach network-online within its boot budget.
        """
        if self._slowness is not None:
            return self._slowness
        prior = self.prior_slowness()
        started = [n for n in self.nodes.values() if n.started_at is not None]
        if self._told():
            self._slowness = prior
        elif not started:
            return prior
        else:
            first = min(started, key=lambda n: n.started_at or 0.0)
            with self.log.nested(f"measuring the slowness factor on {first.name}'s boot"):
                try:
                    self._slowness = pace.measure(
                        first, first.console, first.config.ready_pattern,
                        timeout=prior.budget(self.options.boot_base_s), deadline_cap=self.options.deadline,
                        clock=time.monotonic, sleep=time.sleep,
                    )  # fmt: skip
                except WaitExpired as err:
                    raise pace.explain(err, first.name, first.console.since_mark(), prior,
                                       self.options.boot_base_s) from None  # fmt: skip
        self.log.event("slowness", self._slowness.describe(), factor=self._slowness.factor)
        self.log.warn_loudly(f"wait budgets scaled by {self._slowness.describe()}")
        return self._slowness

    def scaled(self, base: float) -> float:
        """`base` x the slowness factor, without the deadline cap: for asserting how long
        something took in the guest (a wait's budget is `budget`)."""
        return self.slowness().budget(base)

    def budget(self, base: float) -> float:
        """A wait budget: `base` seconds (the design's platform) x the slowness factor, never
        past the run deadline. The one place a scenario turns a base into a budget."""
        return self.slowness().budget(base, deadline=self.options.deadline)

    def boot_budget(self) -> float:
        """QEMU start -> READY (or first SSH), scaled: see `budget`."""
        return self.budget(self.options.boot_base_s)

    def wait_ready(self, names: list[str] | None = None) -> dict[str, float]:
        """Wait for every node's READY line, each within the scaled boot budget counted from
        its QEMU start; returns seconds from cluster start per node.

        Raises:
            WaitExpired: a node was not ready in time; says the factor and its last boot step.
        """
        ready: dict[str, float] = {}
        begin = self.started_at or time.monotonic()
        if self.restored is not None:  # READY was printed before the save; start_all saw them answer
            return {name: 0.0 for name in names or list(self.nodes)}
        for name in names or list(self.nodes):
            node = self.nodes[name]
            budget = self.boot_budget()
            since = time.monotonic() - (node.started_at or time.monotonic())
            with self.log.nested(f"waiting for {name} to finish booting"):
                try:
                    node.wait_for_ready(timeout=max(MIN_ATTEMPT, budget - since))
                except WaitExpired as err:
                    raise pace.explain(err, name, node.console.since_mark(), self.slowness(),
                                       self.options.boot_base_s) from None  # fmt: skip
            ready[name] = time.monotonic() - begin
        return ready

    def down(self) -> list[str]:
        """Collect artifacts, then stop every node and delete the namespace. Never raises:
        every part is taken down even when one before it failed; the failures are logged and
        returned (empty: all done)."""
        problems: list[str] = []
        # Every node's artifacts at once (the journal over SSH takes ~6 s per node under TCG:
        # one after the other they held each teardown 15-25 s), each from its own guest, so
        # nothing is shared but the log (thread-safe); then every node stops.
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes)), thread_name_prefix="collect") as pool:
            collected = [
                pool.submit(self._attempt, f"collect artifacts of {name}",
                            functools.partial(self._collect_if_up, name, node), node=name)
                for name, node in self.nodes.items()
            ]  # fmt: skip
        for result in collected:
            problems += result.result()
        for name, node in self.nodes.items():
            problems += self._attempt(f"stop {name}", node.crash, node=name)
        if self.fabric is not None:
            # Dropped even when its teardown fails: that already tried every part, and a
            # second call would do nothing (the fabric counts as down from its first step).
            fabric, self.fabric = self.fabric, None
            problems += self._attempt(f"delete namespace {fabric.name}", fabric.teardown)
        attach = self.options.run_dir / "attach.json"
        problems += self._attempt(f"remove {attach}", functools.partial(attach.unlink, missing_ok=True))
        return problems

    def _collect_if_up(self, name: str, node: Node) -> None:
        # Only over an SSH session that already works: connecting to a guest that is still
        # booting would hold teardown for up to the collect timeout (the promise is teardown
        # within 10 s); console.log has that boot anyway.
        if node.is_up() and _running(node):
            self.collect(name)
        elif node.booted:
            self.log.log("no SSH session: journal not collected; see console.log", node=name)

    def _attempt(self, what: str, step: Callable[[], object], *, node: str | None = None) -> list[str]:
        """One part of a teardown: its failure is logged and returned, never raised, so the
        parts after it are still taken down."""
        try:
            step()
        except Exception as err:
            problem = f"could not {what}: {err}"
            self.log.log(problem, node=node)
            return [problem]
        return []

    def collect(self, name: str) -> None:
        """Journal of this boot (JSON) and systemd-analyze output, next to the console log."""
        node = self.nodes[name]
        node_dir = self.options.run_dir / "nodes" / name
        rc, out = node.execute("journalctl -b -o json --no-pager", check_output=True, timeout=20)
        if rc == 0:
            (node_dir / "journal.jsonl").write_text(out)
        rc, out = node.execute("systemd-analyze blame --no-pager 2>&1 | head -40", timeout=10)
        (node_dir / "systemd-analyze-blame.txt").write_text(out)

    # -- for humans --------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        return {
            "namespace": self.fabric.name if self.fabric else None,
            "accel": self.accel.accel.value if self.accel else None,
            "accel_headline": self.accel.headline if self.accel else None,
            "nodes": {
                spec.name: {
                    "ip": spec.ip,
                    "bootstrap": spec.bootstrap,
                    "state_dir": str(self.options.run_dir / "nodes" / spec.name),
                }
                for spec in self.topology.nodes
            },
        }

    def attach_info(self) -> dict[str, dict[str, str]]:
        return {name: node.attach_commands() for name, node in self.nodes.items() if node.booted}

    def release(self) -> list[str]:
        """Let the nodes and the namespace outlive this process (`--keep`).

        Everything started registers with the reaper, whose atexit handler would otherwise
        tear the kept cluster down the moment `cluster-test` exits; `cluster-test down` (or
        `down()`) removes it later. Each part lets go through its own `release()`. Never
        raises: every part is released even when one before it failed; the failures are
        logged and returned (empty: all done).
        """
        problems: list[str] = []
        for name, node in self.nodes.items():
            problems += self._attempt(f"release {name}", node.release, node=name)
        if self.fabric is not None:
            problems += self._attempt(f"release namespace {self.fabric.name}", self.fabric.release)
        return problems

    def print_attach(self) -> None:
        """Keep the cluster up (see `release`) and print how to reach each node."""
        self.release()
        path = self.write_attach()
        self.log.warn_loudly(f"cluster kept up; attach commands in {path}; `cluster-test down` removes it")
        for name, commands in json.loads(path.read_text()).items():
            for kind, command in commands.items():
                self.log.log(f"{kind:8} {command}", node=name)


def _running(node: Node) -> bool:
    """False for a paused (QMP `stop`) or unresponsive VM: collecting from it would only wait."""
    try:
        return node.qmp.query_status().get("status") == "running"
    except Exception:  # a VM we cannot ask is not one to collect from
        return False


def _pxe_image(image: BootImage) -> PrebuiltImage:
    """The image with its command line as a tuple of words, as the iPXE script writer wants."""
    cmdline = image.cmdline.split() if isinstance(image.cmdline, str) else tuple(image.cmdline)
    return PrebuiltImage(Path(image.kernel), Path(image.initrd), tuple(cmdline))


def _debian_image(log: RunLog) -> BootImage:
    from harness.image import ensure_image

    image: BootImage = ensure_image(log=lambda msg: log.log(msg))
    return image


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InfrastructureError(f"cannot {what}: {argv[0]}: {err}") from None
    if done.returncode != 0:
        raise InfrastructureError(f"cannot {what}: {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
