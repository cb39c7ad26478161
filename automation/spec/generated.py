"""Generated blocks in Markdown docs: the one marker convention every renderer uses.

A block is `<!-- generated:NAME -->`, a newline, the producer's output (ending in a newline),
then `<!-- end:NAME -->`. `python -m automation.render --update-readme README.md` fills the
README's blocks, `python -m harness.docs_render --update docs/harness-api.md` the harness
page's; each has a test that a fresh rendering leaves its file unchanged.

It sits in `automation.spec` because the harness may import nothing else of `automation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["block_markers", "block_text", "refresh_blocks"]


def block_markers(name: str) -> tuple[str, str]:
    """`(begin, end)` marker comments of block `name`."""
    return f"<!-- generated:{name} -->", f"<!-- end:{name} -->"


def block_text(text: str, name: str) -> str | None:
    """What `text` holds between the markers of block `name` (None: no such block)."""
    begin, end = block_markers(name)
    if begin not in text or end not in text:
        return None
    return text.partition(begin)[2].partition(end)[0].removeprefix("\n")


def refresh_blocks(text: str, producers: Mapping[str, Callable[[], str]]) -> str:
    """`text` with each block named in `producers` replaced by fresh output; blocks absent
    from `text` are skipped (callers that need a block check `block_text`)."""
    for name, producer in producers.items():
        begin, end = block_markers(name)
        if begin in text and end in text:
            head, _, rest = text.partition(begin)
            _, _, tail = rest.partition(end)
            text = f"{head}{begin}\n{producer()}{end}{tail}"
    return text
