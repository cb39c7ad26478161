"""Print one closing line, `N passed, N failed, N skipped`, over the JUnit files of a test run.

An interrupted cluster-test run adds `, N interrupted, N not run` (testcases with
`<error type="interrupted">` and `<skipped type="not-run">`, see harness/report/junit.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.etree import ElementTree as ET


def main(paths: list[str]) -> int:
    passed = failed = skipped = interrupted = not_run = 0
    for path in map(Path, paths):
        if not path.exists():
            failed += 1  # a tier that wrote no report did not pass
            print(f"missing report: {path}")
            continue
        root = ET.parse(path).getroot()
        for case in root.iter("testcase"):
            kinds = {child.tag for child in case}
            types = {child.get("type") for child in case}
            if "interrupted" in types:
                interrupted += 1
            elif "not-run" in types:
                not_run += 1
            elif kinds & {"failure", "error"}:
                failed += 1
            elif "skipped" in kinds:
                skipped += 1
            else:
                passed += 1
    cut = f", {interrupted} interrupted, {not_run} not run" if interrupted or not_run else ""
    print(f"{passed} passed, {failed} failed, {skipped} skipped{cut}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
