"""Guest RAM per node: the Debian image's default, a prebuilt (NixOS) image's, an override;
and the cluster-test environment that carries them into the scenario run."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.cluster import ClusterOptions, PrebuiltImage, guest_memory_mb
from harness.machine.qemu import DEFAULT_MEMORY_MB, PREBUILT_MEMORY_MB
from harness.scenarios.settings import RunSettings

NIXOS = PrebuiltImage(Path("/nix/bzImage"), Path("/nix/initrd"), "init=/nix/store/x/init")


def test_debian_image_gets_the_default_and_a_prebuilt_one_the_larger_size() -> None:
    assert guest_memory_mb(ClusterOptions(run_dir=Path("r"))) == DEFAULT_MEMORY_MB == 384
    assert guest_memory_mb(ClusterOptions(run_dir=Path("r"), image=NIXOS)) == PREBUILT_MEMORY_MB == 1536


def test_an_explicit_size_wins_for_either_image() -> None:
    assert guest_memory_mb(ClusterOptions(run_dir=Path("r"), memory_mb=2048, image=NIXOS)) == 2048
    assert guest_memory_mb(ClusterOptions(run_dir=Path("r"), memory_mb=384)) == 384


def test_run_settings_carry_memory_and_tb_size_into_every_cluster() -> None:
    settings = RunSettings.from_env({"FBA_RUN_DIR": "/tmp/r", "FBA_MEMORY_MB": "512", "FBA_TB_SIZE_MB": "128"})
    options = settings.cluster_options("bootstrap", node_env={"node01": {"K": "v"}})
    assert (options.memory_mb, options.tb_size_mb, options.run_dir) == (512, 128, Path("/tmp/r/bootstrap"))
    unset = RunSettings.from_env({}).cluster_options("bootstrap")
    assert (unset.memory_mb, unset.tb_size_mb) == (None, None)
