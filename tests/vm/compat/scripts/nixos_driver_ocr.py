# ruff: noqa: F821
# mypy: ignore-errors
# From nixpkgs nixos/tests/nixos-test-driver/ocr.py (read at 18e91821), reduced to the OCR call
# it is about: our nodes run without a display (nothing to read text from), so cluster-test
# rejects this script before booting: exit 4, one line naming wait_for_text. Not adapted: its
# wait_for_x and the xterm it starts.
machine.wait_for_text("root@", timeout=10)
