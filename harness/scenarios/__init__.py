"""Scenarios `cluster-test` runs, as pytest tests (so -k, pytest-xdist and JUnit come free)."""
