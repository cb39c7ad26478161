"""Every `FBA_*` variable `fba` reads, once: the CLI, the config loader and the docs take the
names from here, and any other `FBA_*` name in fba's environment is judged against them
(`automation.configfile.check_environment`).

Overrides of config settings are `FBA_<SECTION>_<KEY>` for the scalar fields of the sections
in `OVERRIDE_SECTIONS`; their names are derived from the config model, not listed.
"""

from __future__ import annotations

from collections.abc import Mapping

# Sections whose scalar settings may be overridden from the environment as FBA_<SECTION>_<KEY>
# (the NixOS module sets these from its options; unset leaves the file in charge).
OVERRIDE_SECTIONS = ("health", "join")

# The other variables fba reads, with what they mean.
VARIABLES: dict[str, str] = {
    "FBA_CONFIG": "the config file, as --config (default /etc/nixos/secrets/cluster-config.json)",
    "FBA_STATE_DIR": "the marker directory, as --state-dir (default /var/lib/first-boot-automation)",
    "FBA_FAILPOINTS": "armed failpoints (tests only): name=action,...",
    "FBA_FAILPOINTS_FIRED": "where fired failpoints are recorded (default under /run)",
}

# Those whose value is a path: an empty one is a usage error (exit 3), never the current
# directory (`Path("")` is `.`; under systemd that is `/`).
PATH_VARIABLES = ("FBA_CONFIG", "FBA_STATE_DIR", "FBA_FAILPOINTS_FIRED")


def empty_path_problem(env: Mapping[str, str]) -> str | None:
    """The first path variable that is set but empty, as one line (None: none is)."""
    for name in PATH_VARIABLES:
        if env.get(name) == "":
            return f"{name} is set but empty (an unset variable in a unit or script?); give a path or unset it"
    return None
