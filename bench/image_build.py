"""Image build timings and sizes: cold, warm (cache hit), code-change rebuild.

    .venv/bin/python bench/image_build.py [--cache DIR] [--keep]

Cold builds into a fresh temporary cache (or --cache DIR, which should be empty), so your
own cache is untouched. The code-change rebuild packages a temporary copy of the project
with one comment appended to automation/__init__.py. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.image.build import NetbootImage, default_code_root, ensure_image  # noqa: E402


def _timed(label: str, build: Callable[[], NetbootImage]) -> NetbootImage:
    started = time.monotonic()
    image = build()
    print(f"{label:<22} {time.monotonic() - started:8.2f} s   image {image.recipe_hash}")
    return image


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:7.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary cache")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="fba-bench-cache-"))
    scratch = Path(tempfile.mkdtemp(prefix="fba-bench-code-"))
    try:
        print(f"cache: {cache}")
        image = _timed("cold build", lambda: ensure_image(cache))
        _timed("warm (cache hit)", lambda: ensure_image(cache))
        project = default_code_root()
        for name in ("automation", "standins"):
            shutil.copytree(project / name, scratch / name, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(project / "pyproject.toml", scratch / "pyproject.toml")
        with (scratch / "automation" / "__init__.py").open("a") as handle:
            handle.write(f"# bench code change {time.time()}\n")
        _timed("code-change rebuild", lambda: ensure_image(cache, code_root=scratch))
        print("sizes:")
        print(f"  kernel   {_mb(image.kernel)}")
        for kind, name in (("base", "base.cpio.zst"), ("deps", "deps.cpio.zst"), ("code", "code.cpio.zst")):
            for layer in sorted((cache / kind).glob(f"*/{name}"))[:1]:
                print(f"  {kind:<8} {_mb(layer)}")
        print(f"  node.img {_mb(image.initrd)}  (base+deps+code, zstd)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep and args.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
