"""The facts other code renders from: unit graph, exit codes, marker paths, config schema.

This sub-package is data plus the types that hold it. The harness may import it; it imports
nothing from the rest of `automation` so that stays cheap and cycle-free.
"""
