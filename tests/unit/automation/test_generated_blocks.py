"""The generated-block convention shared by the README and docs/harness-api.md renderers."""

from __future__ import annotations

from automation.spec.generated import block_markers, block_text, refresh_blocks

PAGE = "intro\n<!-- generated:t -->\nstale\n<!-- end:t -->\nbetween\n<!-- generated:u -->\nkept\n<!-- end:u -->\n"


def test_refresh_replaces_only_the_named_blocks() -> None:
    fresh = refresh_blocks(PAGE, {"t": lambda: "| a |\n", "absent": lambda: "never\n"})
    assert fresh == PAGE.replace("stale\n", "| a |\n")
    assert block_text(fresh, "t") == "| a |\n" and block_text(fresh, "u") == "kept\n"


def test_a_missing_block_is_none_not_empty() -> None:
    begin, end = block_markers("x")
    assert (begin, end) == ("<!-- generated:x -->", "<!-- end:x -->")
    assert block_text(PAGE, "x") is None
    assert block_text(f"{begin}\n{end}", "x") == ""
