"""Run settings handed from `cluster-test` to the pytest run, through FBA_* environment variables.

`cluster-test` starts pytest as a child process with these set, so the scenarios can also be
run by plain `pytest --pyargs harness.scenarios` with the same variables.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.cluster.cluster import ClusterOptions, PrebuiltImage
from harness.cluster.topology import Topology


class Keep(StrEnum):
    NEVER = "never"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


@dataclass(frozen=True)
class RunSettings:
    run_dir: Path
    keep: Keep = Keep.NEVER
    require_kvm: bool = False
    pxe: bool = False
    prebuilt: PrebuiltImage | None = None
    tcg_factor: float | None = None  # None: measure it
    memory_mb: int | None = None  # None: what the image needs (harness.cluster.cluster.guest_memory_mb)
    tb_size_mb: int | None = None  # None: DEFAULT_TB_SIZE_MB
    deadline: float | None = None  # time.monotonic() value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunSettings:
        prebuilt = None
        if env.get("FBA_KERNEL") and env.get("FBA_INITRD"):
            prebuilt = PrebuiltImage(Path(env["FBA_KERNEL"]), Path(env["FBA_INITRD"]), env.get("FBA_CMDLINE", ""))
        deadline = None
        if env.get("FBA_RUN_DEADLINE"):
            deadline = time.monotonic() + max(0.0, float(env["FBA_RUN_DEADLINE"]) - time.time())
        return cls(
            run_dir=Path(env.get("FBA_RUN_DIR", "reports/cluster-test")),
            keep=Keep(env.get("FBA_KEEP", "never")),
            require_kvm=env.get("FBA_REQUIRE_KVM") == "1",
            pxe=env.get("FBA_PXE") == "1",
            prebuilt=prebuilt,
            tcg_factor=float(env["FBA_TCG_FACTOR"]) if env.get("FBA_TCG_FACTOR") else None,
            memory_mb=int(env["FBA_MEMORY_MB"]) if env.get("FBA_MEMORY_MB") else None,
            tb_size_mb=int(env["FBA_TB_SIZE_MB"]) if env.get("FBA_TB_SIZE_MB") else None,
            deadline=deadline,
        )

    def cluster_options(self, name: str, topology: Topology | None = None, **kwargs: object) -> ClusterOptions:
        return ClusterOptions(
            run_dir=self.run_dir / name,
            topology=topology or Topology(),
            image=self.prebuilt,
            require_kvm=self.require_kvm,
            pxe=self.pxe,
            deadline=self.deadline,
            tcg_factor=self.tcg_factor,
            memory_mb=self.memory_mb,
            tb_size_mb=self.tb_size_mb,
            may_keep=self.keep is not Keep.NEVER,  # kept nodes must not die with this pytest run
            **kwargs,  # type: ignore[arg-type]
        )
