"""QEMU machines: accelerator probe, argv, process, QMP, serial console, SSH, and `Node`.

Imports downward only (`harness.waits`, `harness.log`, `harness.errors`); the network wing
and the image wing are not imported: `Node` takes plain paths and values.
"""
