"""The one JSON reader of `fba`: every JSON file it reads (the config, the IAM credentials) and
every peer answer goes through `loads`.

Python's `json` (and pydantic's parser) keep the LAST of two equal keys: a config with
`"bootstrap": false` early and `"bootstrap": true` at the end silently bootstraps a new
cluster. They also accept `NaN`/`Infinity`, turn `1e400` into infinity, and answer a file that
starts with a UTF-8 byte order mark with "expected value at line 1 column 1". Here each of
those is one line that names what is wrong and where (line and column), and a key given twice
names its JSON path and both lines. A UTF-8 byte order mark (Windows editors write one) is
skipped; UTF-16/32 are named.

The parser is small and recursive-descent so that it knows the path and the position of every
key; strings are decoded by the standard library's `json.decoder.scanstring`. Nesting is
capped, so hostile input cannot reach Python's recursion limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from automation.errors import FbaError
from automation.spec.exitcodes import ExitCode

MAX_DEPTH = 128
INT_LIMIT = 2**63  # integers must fit a signed 64-bit integer, as Go and Rust peers decode them
_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_NOT_JSON = {
    "NaN": "NaN is not JSON (write a number or null)",
    "Infinity": "Infinity is not JSON (write a number or null)",
    "-Infinity": "-Infinity is not JSON (write a number or null)",
    "'": "strings take double quotes, not single quotes",
    "//": "comments are not JSON",
    "/*": "comments are not JSON",
}
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
UTF8_BOM = b"\xef\xbb\xbf"
# The C string decoder behind `json.loads` (escapes, control characters); typeshed omits it.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


class JsonError(FbaError):
    """The bytes are not the JSON we accept. `reason` is one line; `line`/`column` are 1-based
    (0 when the problem has no position, e.g. an empty file)."""

    exit_code = ExitCode.INVALID

    def __init__(self, source: str, reason: str, *, line: int = 0, column: int = 0) -> None:
        where = f" at line {line} column {column}" if line else ""
        super().__init__(f"{source}: not valid JSON: {reason}{where}")
        self.source = source
        self.reason = reason
        self.line = line
        self.column = column

    @property
    def detail(self) -> str:
        """The message without the source, for callers that print the source themselves."""
        return self.message.removeprefix(f"{self.source}: ")


def loads(data: bytes | str, *, source: str) -> Any:
    """Parse one JSON document.

    Example: `loads(b'{"a": 1, "a": 2}', source="x.json")` raises
    `JsonError("x.json: not valid JSON: key a given twice, at line 1 and line 1 ...")`.

    Raises:
        JsonError: empty input, a non-UTF-8 byte, a key given twice, NaN/Infinity, a number out
            of range, nesting deeper than MAX_DEPTH, or any other syntax error.
    """
    text = _decode(data, source) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    if not text.strip(" \t\n\r"):
        raise JsonError(source, "the input is empty")
    try:
        value = json.loads(
            text, object_pairs_hook=_unique, parse_constant=_refuse, parse_float=_finite, parse_int=_int64
        )
    except (ValueError, RecursionError):
        value = _SUSPECT
    if value is _SUSPECT or _SURROGATE.search(text) or _depth(value) > MAX_DEPTH:
        # Something to explain (or to check more closely): the positional parser finds it and
        # says where. It accepts exactly what the fast path accepts, so a clean text never
        # gets here twice.
        return _Parser(text, source).document()
    return value


# The fast path: the C parser with hooks that turn every quirk into a ValueError; the slow
# parser below then explains it with a position. (The slow parser alone takes ~1 s for 1 MB.)
_SUSPECT = object()
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _refuse(word: str) -> Any:
    raise ValueError(word)


def _finite(literal: str) -> float:
    number = float(literal)
    if number in (float("inf"), float("-inf")):
        raise ValueError(literal)
    return number


def _int64(literal: str) -> int:
    if len(literal) > 20 or abs(int(literal)) >= INT_LIMIT:
        raise ValueError(literal)
    return int(literal)


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (the C parser's own limit is Python's recursion limit)."""
    deepest, level = 0, [(value, 0)]
    for _ in range(10_000_000):  # bounded by the size of the document
        if not level:
            break
        item, depth = level.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            level.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            level.extend((child, depth + 1) for child in item)
    return deepest


def path_text(path: tuple[str | int, ...]) -> str:
    """`services.flaredb.api_port`, `initial_peers[1]`, `["odd key"]`; `(top level)` for ()."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part) and len(part) <= 60:
            out += ("." if out else "") + part
        else:
            shown = part if len(part) <= 60 else part[:57] + "..."
            out += "[" + json.dumps(shown) + "]"
    return out or "(top level)"


def _decode(data: bytes, source: str) -> str:
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            marks = bom.hex(" ").upper()
            raise JsonError(source, f"the file is {name} text (byte order mark {marks}); save it as UTF-8")
    data = data.removeprefix(UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise JsonError(
            source, f"byte 0x{data[err.start]:02X} is not UTF-8 (byte offset {err.start})", line=line, column=column
        ) from None


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def fail(self, reason: str, pos: int) -> JsonError:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return JsonError(self.source, reason, line=line, column=column)

    def duplicate(self, key: str, first: int, second: int, path: tuple[str | int, ...]) -> JsonError:
        line = self.text.count("\n", 0, second) + 1
        error = JsonError(
            self.source,
            f"key {path_text((*path, key))} given twice, at line {self.text.count(chr(10), 0, first) + 1}"
            f" and line {line} (JSON readers disagree on which one wins; keep one)",
        )
        error.line, error.column = line, second - (self.text.rfind("\n", 0, second) + 1) + 1
        return error

    def skip(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        return match.end() if match else pos

    def document(self) -> Any:
        value, end = self.value(self.skip(0), ())
        end = self.skip(end)
        if end != len(self.text):
            raise self.fail(f"unexpected {self.shown(end)} after the JSON value", end)
        return value

    def shown(self, pos: int) -> str:
        if pos >= len(self.text):
            return "end of input"
        char = self.text[pos]
        return repr(char) if char.isprintable() else f"character U+{ord(char):04X}"

    def value(self, pos: int, path: tuple[str | int, ...]) -> tuple[Any, int]:
        if len(path) > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels", pos)
        char = self.text[pos : pos + 1]
        if char == "{":
            return self.object(pos, path)
        if char == "[":
            return self.array(pos, path)
        if char == '"':
            return self.string(pos)
        if char == "-" or char.isdigit():
            return self.number(pos, path)
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, pos):
                return literal, pos + len(word)
        for word, reason in _NOT_JSON.items():
            if self.text.startswith(word, pos):
                raise self.fail(reason, pos)
        raise self.fail(f"expected a value, got {self.shown(pos)}", pos)

    def string(self, pos: int) -> tuple[str, int]:
        try:
            text, end = _scanstring(self.text, pos + 1, True)
        except json.JSONDecodeError as err:
            raise self.fail(err.msg.lower(), err.pos) from None
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail("the string holds an unpaired surrogate escape (\\ud800-\\udfff)", pos) from None
        return text, end

    def number(self, pos: int, path: tuple[str | int, ...]) -> tuple[int | float, int]:
        if self.text.startswith("-Infinity", pos):
            raise self.fail(_NOT_JSON["-Infinity"], pos)
        match = _NUMBER.match(self.text, pos)
        if not match:
            raise self.fail(f"expected a number, got {self.shown(pos)}", pos)
        literal = match.group(0)
        where = path_text(path)
        if match.group(1) is None and match.group(2) is None:
            if len(literal) > 20 or abs(int(literal)) >= INT_LIMIT:
                # Its digits are not quoted: a numeric secret (a PIN-like token) in a config
                # field was echoed whole (break 12, K5); the line and column say where it is.
                digits = len(literal.lstrip("-"))
                raise self.fail(f"{where}: an integer of {digits} digits is out of range (64-bit)", pos)
            return int(literal), match.end()
        number = float(literal)
        if number in (float("inf"), float("-inf")):
            raise self.fail(f"{where}: number {_short(literal)} is out of range", pos)
        return number, match.end()

    def array(self, pos: int, path: tuple[str | int, ...]) -> tuple[list[Any], int]:
        items: list[Any] = []
        pos = self.skip(pos + 1)
        if self.text.startswith("]", pos):
            return items, pos + 1
        for _ in range(len(self.text)):  # every turn consumes input or raises
            item, pos = self.value(pos, (*path, len(items)))
            items.append(item)
            pos = self.skip(pos)
            char = self.text[pos : pos + 1]
            if char == "]":
                return items, pos + 1
            if char != ",":
                raise self.fail(f"expected ',' or ']' in {path_text(path)}, got {self.shown(pos)}", pos)
            pos = self.skip(pos + 1)
            if self.text.startswith("]", pos):
                raise self.fail("trailing comma before ']'", pos)
        raise self.fail(f"unterminated list {path_text(path)}", pos)

    def object(self, pos: int, path: tuple[str | int, ...]) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        seen: dict[str, int] = {}  # key -> position; lines are counted only for an error
        pos = self.skip(pos + 1)
        if self.text.startswith("}", pos):
            return out, pos + 1
        for _ in range(len(self.text)):  # every turn consumes input or raises
            if not self.text.startswith('"', pos):
                reason = _NOT_JSON.get(self.text[pos : pos + 2]) or _NOT_JSON.get(self.text[pos : pos + 1])
                raise self.fail(reason or f"expected a key in double quotes, got {self.shown(pos)}", pos)
            key_pos = pos
            key, pos = self.string(pos)
            if key in seen:
                raise self.duplicate(key, seen[key], key_pos, path)
            seen[key] = key_pos
            pos = self.skip(pos)
            if not self.text.startswith(":", pos):
                raise self.fail(f"expected ':' after key {path_text((*path, key))}, got {self.shown(pos)}", pos)
            out[key], pos = self.value(self.skip(pos + 1), (*path, key))
            pos = self.skip(pos)
            char = self.text[pos : pos + 1]
            if char == "}":
                return out, pos + 1
            if char != ",":
                raise self.fail(f"expected ',' or '}}' after {path_text((*path, key))}, got {self.shown(pos)}", pos)
            pos = self.skip(pos + 1)
            if self.text.startswith("}", pos):
                raise self.fail("trailing comma before '}'", pos)
        raise self.fail(f"unterminated object {path_text(path)}", pos)


def _short(literal: str) -> str:
    return literal if len(literal) <= 24 else literal[:21] + "..."
