"""The cluster wing: topology and per-node configs, per-run PKI, and the Cluster that boots them."""
