"""The guest's injection reader (`fba-inject.py`, run in the guest's initramfs), loaded as a
module so host tests can run it on a fake root."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from harness.image.codelayer import GUEST_DIR

READER = GUEST_DIR / "fba-inject.py"


def load_inject_reader() -> ModuleType:
    """The reader module (registered once in `sys.modules` as `fba_inject_guest`)."""
    spec = importlib.util.spec_from_file_location("fba_inject_guest", READER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fba_inject_guest", module)
    spec.loader.exec_module(module)
    return module
