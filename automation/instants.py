"""A point in time as peers write it, read into an aware `datetime` or refused.

The IAM contract says ISO-8601 (`format: date-time`), but the services behind it write what
their language prints: JWT/Vault's Unix seconds (a number, or its text), Go's `time.String()`
("2023-11-14 22:13:20.5 +0000 UTC m=+0.01"), HTTP's RFC 1123 ("Tue, 14 Nov 2023 22:13:20 GMT").
Reading only ISO turned the others into "no expiry", and a token that was dead on arrival was
stored as good (break 11, H5). A value that is there but none of these is an error for the
caller to name, never "absent": failing open on a field whose whole purpose is to say "dead"
is the same fault through another door.
"""

from __future__ import annotations

import email.utils
import math
import re
from datetime import UTC, datetime

# Go's time.Time.String(): date, time with up to 9 fraction digits, numeric zone, zone name,
# and (for a time read from the monotonic clock) " m=±seconds", which says nothing about when.
_GO_STRING = re.compile(
    r"(?P<when>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))? "
    r"(?P<zone>[+-]\d{4}) [A-Za-z0-9+-]+(?: m=[+-]\d+(?:\.\d+)?)?"
)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Unix time in milliseconds (Java's and JavaScript's clocks): read as seconds, it would be a
# date thousands of years ahead, a token that "never" expires.
_MILLISECONDS_FROM = 1e11  # seconds: the year 5138


class UnreadableInstant(ValueError):
    """The value is there but is not a time in any shape `read` knows."""


def read(value: object) -> datetime | None:
    """`value` as an aware time (a zone-less one is UTC); None only for JSON null / absent.

    Raises:
        UnreadableInstant: anything else that is not a time (a bool, a list, free text, a date
            out of range); the caller names the value.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnreadableInstant(f"not a time: {type(value).__name__}")
    try:
        when = _number(value) if not isinstance(value, str) else _text(value.strip())
    except (ValueError, OverflowError, OSError) as err:  # out of datetime's (or the OS's) range
        raise UnreadableInstant(str(err) or "out of range") from None
    if when is None:
        raise UnreadableInstant("not a time in a known shape (ISO-8601, Unix seconds, Go, RFC 1123)")
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _number(seconds: float) -> datetime:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("not a Unix time")
    if seconds >= _MILLISECONDS_FROM:
        seconds /= 1000
    return datetime.fromtimestamp(seconds, UTC)


def _text(text: str) -> datetime | None:
    if _NUMBER.fullmatch(text):
        return _number(float(text))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    go = _GO_STRING.fullmatch(text)
    if go:
        fraction = (go["frac"] or "")[:6].ljust(6, "0")  # datetime keeps microseconds
        return datetime.strptime(f"{go['when']}.{fraction} {go['zone']}", "%Y-%m-%d %H:%M:%S.%f %z")
    if "," in text or text[:3].isalpha():
        try:
            return email.utils.parsedate_to_datetime(text)  # RFC 1123 / 2822 / 850, asctime
        except (TypeError, ValueError, IndexError):
            return None
    return None
