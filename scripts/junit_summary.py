"""Print one closing line, `N passed, N failed, N skipped`, over the JUnit files of a test run."""

from __future__ import annotations

import sys
from pathlib import Path
from xml.etree import ElementTree as ET


def main(paths: list[str]) -> int:
    passed = failed = skipped = 0
    for path in map(Path, paths):
        if not path.exists():
            failed += 1  # a tier that wrote no report did not pass
            print(f"missing report: {path}")
            continue
        root = ET.parse(path).getroot()
        for case in root.iter("testcase"):
            kinds = {child.tag for child in case}
            if kinds & {"failure", "error"}:
                failed += 1
            elif "skipped" in kinds:
                skipped += 1
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
