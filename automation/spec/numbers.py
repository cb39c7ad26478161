"""Numbers written as text by someone else (a peer's header or member list, the config): one
reader, so none of them can end `fba` with a traceback.

`str.isdigit()` is true for '²' (U+00B2, which a peer sends as the byte 0xB2 in a Latin-1
header) and for other scripts' digits, yet `int()` refuses some of them; and `int()` of
thousands of digits raises (Python's digit limit), `float()` of a few hundred overflows. So
only ASCII digits count, and the number of digits is bounded before anything is converted.
"""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")


def ascii_number(text: str, *, limit: int) -> int | None:
    """The non-negative integer `text` spells in ASCII digits (nothing else, no sign, no
    spaces), or None. A value above `limit` is `limit`: the caller bounds what it means
    ("wait at least this long"), and no more digits than `limit` has are ever converted."""
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(limit)):
        return limit
    return min(int(digits), limit)


def port_number(text: str) -> int | None:
    """A TCP port written as text: 1-65535 in ASCII digits, else None."""
    value = ascii_number(text, limit=65536)
    return value if value is not None and 1 <= value <= 65535 else None
