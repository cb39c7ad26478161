"""First-boot automation: the `fba` command that makes a node join its cluster."""

__version__ = "0.1.0"
