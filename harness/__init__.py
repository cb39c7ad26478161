"""Host side of first-boot automation: netboot images, QEMU nodes, network faults, checks."""
