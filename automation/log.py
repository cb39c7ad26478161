"""JSON-line logging to stdout, which journald captures.

One object per line, compact separators so the design's `grep '"level":"ERROR"'` works:
`{"timestamp":..., "level":..., "service":..., "operation":..., "node_id":..., "message":...,
"context":{...}}`. Secrets never reach a line: `SecretStr` values render masked, and any
string registered with `Redactor.add` is replaced wherever it appears.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, TextIO, runtime_checkable

if TYPE_CHECKING:
    from datetime import datetime

REDACTED = "[REDACTED]"
MIN_PARTIAL = 8  # the shortest start of a secret redacted on its own (a cut copy)


class Level(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


@runtime_checkable
class SecretStr(Protocol):
    """pydantic's `SecretStr`, by shape: importing pydantic here would make every `fba` start
    pay for it, and logging must work before (and without) the config model."""

    def get_secret_value(self) -> str: ...


class Redactor:
    """The secrets this process knows; shared by every bound logger of one command run."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | SecretStr | None) -> None:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if value and len(value) >= 4:
            self._secrets.add(value)

    def clean(self, value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "**********"
        if isinstance(value, str):
            return _redact(value, self._secrets) if self._secrets else value
        if isinstance(value, Mapping):
            return {str(k): self.clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.clean(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.clean(str(value))


# A view of a text: its characters after some decoding, each with the span of the original
# text it came from, so what matches in the view is masked in the original.
_View = tuple[str, list[tuple[int, int]]]
_MAX_DECODINGS = 4  # a JSON answer quoted in JSON quoted in a URL: deeper nesting is not seen
_ESCAPABLE = "\\%&"  # a text without these has no escaped form of anything
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0"}
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "sol": "/", "plus": "+", "equals": "="}


def _redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every copy of every secret masked, in whatever encoding it arrived.

    A secret quoted from a peer's answer arrives escaped in any way JSON allows (`\\"`, `\\/`,
    `\\u002B`, every character `\\uXXXX`: PHP, .NET and Java encoders differ from Python's),
    percent-encoded, as HTML entities, or escaped twice (an answer quoted inside another). So
    the text is decoded, up to a few levels, into views that remember where each character
    came from; each secret is looked for in every view, and the union of the matched spans is
    masked in the original text at once. Masking rule by rule on the text itself let one
    rule's mask cut a copy another rule would have matched whole (break 12, K1: the start of
    a base64 token masked, its tail after the first `/` printed).

    Also masked: every run of at least `MIN_PARTIAL` characters that starts like a secret
    longer than that: an answer quoted up to a length (`Response.excerpt`) cuts an echoed
    secret, and the cut copy never matched the whole one (break 10, G7)."""
    spans: list[tuple[int, int]] = []
    for view, origin in _views(text):
        for secret in secrets:
            for start, end in _matches(view, secret):
                spans.append((origin[start][0], origin[end - 1][1]))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    done = 0
    for start, end in merged:
        parts += [text[done:start], REDACTED]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _matches(view: str, secret: str) -> Iterator[tuple[int, int]]:
    """The spans of `view` holding `secret`, or (secrets longer than `MIN_PARTIAL`) a start of
    it at least `MIN_PARTIAL` long. Overlapping copies are all found."""
    head = secret if len(secret) <= MIN_PARTIAL else secret[:MIN_PARTIAL]
    start = view.find(head)
    while start != -1:
        end = start + len(head)
        while end < len(view) and end - start < len(secret) and view[end] == secret[end - start]:
            end += 1
        yield start, end
        start = view.find(head, start + 1)


def _views(text: str) -> Iterator[_View]:
    view: _View = (text, [(i, i + 1) for i in range(len(text))])
    yield view
    for _ in range(_MAX_DECODINGS):
        if not any(c in view[0] for c in _ESCAPABLE):
            return
        decoded = _decode(view)
        if decoded[0] == view[0]:
            return
        yield decoded
        view = decoded


def _decode(view: _View) -> _View:
    """One level of JSON/JavaScript escapes, percent-encoding and HTML character references
    decoded, each decoded character spanning what it came from."""
    text, origin = view
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        char, width = _decode_one(text, i)
        chars.append(char)
        spans.append((origin[i][0], origin[i + width - 1][1]))
        i += width
    return "".join(chars), spans


def _decode_one(text: str, i: int) -> tuple[str, int]:
    """The character at `text[i]`, decoded, and how many characters its encoding took."""
    char = text[i]
    if char == "\\" and i + 1 < len(text):
        follower = text[i + 1]
        if follower == "u":
            code = _hex(text, i + 2, 4)
            if code is not None:
                if 0xD800 <= code < 0xDC00 and text.startswith("\\u", i + 6):
                    low = _hex(text, i + 8, 4)
                    if low is not None and 0xDC00 <= low < 0xE000:
                        return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
                return chr(code), 6
        if follower == "x":
            code = _hex(text, i + 2, 2)
            if code is not None:
                return chr(code), 4
        if follower in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[follower], 2
        if follower in "\"'\\/":
            return follower, 2
    if char == "%":
        return _percent(text, i)
    if char == "&":
        end = text.find(";", i + 2, i + 12)
        if end != -1:
            name = text[i + 1 : end]
            code = None
            if name[:2] in ("#x", "#X"):
                code = _hex(name, 2, len(name) - 2)
            elif name[:1] == "#" and name[1:].isascii() and name[1:].isdigit():
                code = int(name[1:])
            if code is not None and code <= 0x10FFFF:
                return chr(code), end + 1 - i
            if name.lower() in _ENTITIES:
                return _ENTITIES[name.lower()], end + 1 - i
    return char, 1


def _percent(text: str, i: int) -> tuple[str, int]:
    """A percent-encoded character: one `%XX`, or the two to four a UTF-8 sequence takes."""
    first = _hex(text, i + 1, 2)
    if first is None:
        return "%", 1
    if first < 0x80:
        return chr(first), 3
    length = 2 if first >= 0xC0 else 1
    length = 3 if first >= 0xE0 else length
    length = 4 if first >= 0xF0 else length
    data = bytearray([first])
    for k in range(1, length):
        if text[i + 3 * k : i + 3 * k + 1] != "%":
            break
        byte = _hex(text, i + 3 * k + 1, 2)
        if byte is None:
            break
        data.append(byte)
    try:
        return data.decode("utf-8"), 3 * len(data)
    except UnicodeDecodeError:
        return chr(first), 3  # not UTF-8: the byte as Latin-1, a character no secret shares


def _hex(text: str, start: int, length: int) -> int | None:
    digits = text[start : start + length]
    if len(digits) != length or length == 0 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        return None
    return int(digits, 16)


def _now() -> datetime:
    # datetime and json are imported where a line is written, not at the top: every `fba` start
    # builds a logger, and `--help` or a quiet `status` never writes a line.
    from datetime import UTC, datetime

    return datetime.now(UTC)


class Logger:
    """Writes the JSON lines; `bind` returns a new logger with more fields.

    A plain class with `Final` attributes (mypy keeps them unchanged) rather than a frozen
    dataclass: every `fba` run builds one, and `fba --help`/`status` do not import `dataclasses`
    (docs/CONTRIBUTING.md, "The start-up path").
    """

    __slots__ = ("clock", "fields", "min_level", "redactor", "stream")

    def __init__(
        self,
        stream: TextIO | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], datetime] = _now,
        fields: Mapping[str, str] | None = None,
        min_level: Level = Level.INFO,
    ) -> None:
        self.stream: Final[TextIO] = sys.stdout if stream is None else stream
        self.redactor: Final = Redactor() if redactor is None else redactor
        self.clock: Final = clock
        self.fields: Final[Mapping[str, str]] = {} if fields is None else fields
        self.min_level: Final = min_level

    def bind(self, **fields: str | None) -> Logger:
        merged = dict(self.fields)
        merged.update({k: v for k, v in fields.items() if v is not None})
        return Logger(self.stream, self.redactor, self.clock, merged, self.min_level)

    def emit(self, level: Level, message: str, **context: Any) -> None:
        import json  # see _now

        if _order(level) < _order(self.min_level):
            return
        record: dict[str, Any] = {
            "timestamp": self.clock().isoformat(timespec="milliseconds"),
            "level": level.value,
            "service": self.fields.get("service", "fba"),
            "operation": self.fields.get("operation", ""),
            "node_id": self.fields.get("node_id", ""),
            "message": self.redactor.clean(message),
        }
        clean_context = {k: self.redactor.clean(v) for k, v in context.items() if v is not None}
        if clean_context:
            record["context"] = clean_context
        write_line(self.stream, json.dumps(record, separators=(",", ":"), ensure_ascii=False))

    def debug(self, message: str, **context: Any) -> None:
        self.emit(Level.DEBUG, message, **context)

    def info(self, message: str, **context: Any) -> None:
        self.emit(Level.INFO, message, **context)

    def warn(self, message: str, **context: Any) -> None:
        self.emit(Level.WARN, message, **context)

    def failure(self, err: Any) -> None:
        """Log an error a step raised that no one logged yet (an `FbaError` with a `cause`), with
        this logger's service and operation, once: the CLI's last-resort line had neither, so a
        journal filtered by service missed the line saying why the step failed."""
        if getattr(err, "logged", True) or not hasattr(err, "cause"):
            return
        self.error(err.message, cause=err.cause)
        err.logged = True

    def error(self, message: str, **context: Any) -> None:
        self.emit(Level.ERROR, message, **context)


def write_line(stream: TextIO | None, line: str) -> bool:
    """Write one line and flush; False when the stream is gone. Never raises.

    A closed or broken stdout (journald restarted, `>&-`, a pipe whose reader left) made the
    first log line raise, and the join ended there without reaching the leader: a lost log line
    is better than a failed step. `sys.stdout` is None when fd 1 was closed at start-up."""
    if stream is None:
        return False
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError, AttributeError):  # EPIPE/EBADF/EIO; ValueError: a closed file
        discard(stream)
        return False
    return True


def discard(stream: TextIO) -> None:
    """Point a broken stream's descriptor at /dev/null: what it still buffers is flushed again
    at interpreter exit, and failing there printed "Exception ignored" and changed the exit code
    to 120."""
    try:
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    except (OSError, ValueError, AttributeError):
        return
    try:
        os.dup2(null, fd)
    except OSError:
        pass
    finally:
        os.close(null)


def _order(level: Level) -> int:
    return list(Level).index(level)
