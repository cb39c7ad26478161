"""`python -m harness.image build|info|clean`: the image cache for humans."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.image import cache
from harness.image.build import IMAGE_JSON, ensure_image


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.image", description=__doc__)
    parser.add_argument("--cache", type=Path, default=None, help="cache root ($FBA_CACHE, ~/.cache/fba/images)")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (or reuse) the node image and print its paths")
    build.add_argument("--code-root", type=Path, default=None, help="project root to package")
    build.add_argument("--json", action="store_true", help="print the image as JSON")
    sub.add_parser("info", help="list cached images and layers with sizes")
    clean = sub.add_parser("clean", help="remove cached entries")
    clean.add_argument("--keep-current", action="store_true", help="keep the current image and its layers")
    return parser


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _info(root: Path) -> None:
    print(f"cache: {root}")
    for kind in cache.KINDS:
        for entry in sorted((root / kind).glob("*")) if (root / kind).is_dir() else []:
            extra = ""
            if kind == "images" and (entry / IMAGE_JSON).is_file():
                data = json.loads((entry / IMAGE_JSON).read_text())
                extra = f"  layers={data['layers']}  kernel={data['kernel_version']}"
            print(f"  {kind:6} {entry.name}  {_size(entry) / 1e6:8.1f} MB{extra}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root: Path = args.cache or cache.default_cache_root()
    try:
        if args.command == "build":
            image = ensure_image(root, code_root=args.code_root, log=lambda m: print(m, file=sys.stderr))
            if args.json:
                print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in vars(image).items()}))
            else:
                print(f"kernel  {image.kernel}\ninitrd  {image.initrd}\ncmdline {' '.join(image.cmdline)}")
        elif args.command == "info":
            _info(root)
        else:
            keep: set[str] | None = None
            if args.keep_current:
                image = ensure_image(root)
                data = json.loads((image.initrd.parent / IMAGE_JSON).read_text())
                keep = {image.recipe_hash, *data["layers"].values()}
            for path in cache.clean(root, keep):
                print(f"removed {path}")
    except HarnessError as err:
        print(f"harness.image {args.command}: {err}", file=sys.stderr)
        return 2
    return 0
