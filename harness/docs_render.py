"""Render docs/harness-api.md's generated blocks from the code.

`python -m harness.docs_render --update docs/harness-api.md` rewrites every block (the
`automation.spec.generated` markers, as for the README); without arguments it prints the
parity table. tests/unit/harness/test_parity_table.py fails when the page is stale.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from automation.spec.generated import refresh_blocks
from harness.parity import DRIVER_SOURCE, parity_rows

__all__ = ["GENERATED", "parity_table_markdown", "refresh_harness_docs"]


def _cell(text: str) -> str:
    # A bare `|` ends a table cell even inside backticks.
    return text.replace("|", "\\|")


def parity_table_markdown() -> str:
    """The driver parity table, one row per verb or global (`harness.parity.parity_rows`)."""
    caption = (
        "Generated from the `Parity:` sections of the docstrings (`harness.parity`) by "
        "`python -m harness.docs_render --update docs/harness-api.md`; the driver column was read "
        f"against {DRIVER_SOURCE}."
    )
    lines = [
        *textwrap.wrap(caption, width=96, break_long_words=False, break_on_hyphens=False),
        "",
        "| verb | the NixOS driver | ours | shown by |",
        "|---|---|---|---|",
    ]
    for row in parity_rows():
        tests = ", ".join(f"`{name}`" for name in row.tests)
        lines.append(f"| {_cell(row.label)} | {_cell(row.driver)} | {_cell(row.ours)} | {tests} |")
    return "\n".join(lines) + "\n"


GENERATED: dict[str, Callable[[], str]] = {"driver-parity": parity_table_markdown}
"""Block name -> producer, for docs/harness-api.md."""


def refresh_harness_docs(text: str) -> str:
    """`text` with every block of `GENERATED` rendered afresh."""
    return refresh_blocks(text, GENERATED)


def main() -> None:
    """`python -m harness.docs_render [--update FILE]`; default: print the parity table."""
    if "--update" in sys.argv:
        path = Path(sys.argv[sys.argv.index("--update") + 1])
        path.write_text(refresh_harness_docs(path.read_text(encoding="utf-8")), encoding="utf-8")
        return
    sys.stdout.write(parity_table_markdown())


if __name__ == "__main__":
    main()
