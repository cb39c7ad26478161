"""The one JSON reader: duplicates at any depth, BOMs, bad bytes, NaN and out-of-range numbers
are one-line errors with their position; everything else parses as the standard library does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.jsonload import JsonError, loads, path_text

keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1) | finite | st.text(max_size=8)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)


def fail(data: bytes | str) -> JsonError:
    with pytest.raises(JsonError) as caught:
        loads(data, source="f.json")
    return caught.value


@settings(max_examples=200, deadline=None)
@given(documents)
def test_valid_json_parses_like_the_standard_library(document: Any) -> None:
    text = json.dumps(document, indent=1)
    assert loads(text.encode(), source="f.json") == json.loads(text)


def _nest(path: list[str | int], inner: str) -> str:
    """JSON text with `inner` (members of an object) placed at `path`, one member per line."""
    text = "{\n" + inner + "\n}"
    for part in reversed(path):
        text = f"[\n{text}\n]" if isinstance(part, int) else "{\n" + json.dumps(part) + ": " + text + "\n}"
    return text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(keys | st.just(0), max_size=6),
    keys,
    scalars,
    scalars,
    st.lists(keys, max_size=3, unique=True),
)
def test_a_key_given_twice_at_any_depth_is_named_with_both_lines(
    path: list[str | int], key: str, first: Any, second: Any, between: list[str]
) -> None:
    others = [k for k in between if k != key]
    members = [f"{json.dumps(key)}: {json.dumps(first)}"]
    members += [f"{json.dumps(k)}: 1" for k in others]
    members += [f"{json.dumps(key)}: {json.dumps(second)}"]
    inner = ",\n".join(members)
    text = _nest(path, inner)
    first_line = text.count("\n", 0, text.index(inner)) + 1
    second_line = first_line + len(others) + 1
    error = fail(text.encode())
    assert error.reason.startswith(
        f"key {path_text((*path, key))} given twice, at line {first_line} and line {second_line}"
    )
    assert error.line == second_line
    assert "\n" not in error.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the input is empty"),
        (b"\xfe\xff\x00{", "the file is UTF-16 text (byte order mark FE FF); save it as UTF-8"),
        (b"\xff\xfe\x00\x00{", "the file is UTF-32 text (byte order mark FF FE 00 00); save it as UTF-8"),
        (b'{\n "a": "\xc3"}', "byte 0xC3 is not UTF-8 (byte offset 9) at line 2 column 8"),
        (b'{"a": NaN}', "NaN is not JSON (write a number or null) at line 1 column 7"),
        (b'{"a": Infinity}', "Infinity is not JSON (write a number or null) at line 1 column 7"),
        (b"[-Infinity]", "-Infinity is not JSON (write a number or null) at line 1 column 2"),
        (b'{"a": {"b": 1e400}}', "a.b: number 1e400 is out of range at line 1 column 13"),
        (b'{"a": -1e400}', "a: number -1e400 is out of range at line 1 column 7"),
        (b'{"a": 9223372036854775808}', "a: an integer of 19 digits is out of range (64-bit) at line 1 column 7"),
        (b'{"a": 1,}', "trailing comma before '}' at line 1 column 9"),
        (b"[1,\n]", "trailing comma before ']' at line 2 column 1"),
        (b'{"a": 1 // why\n}', "expected ',' or '}' after a, got '/' at line 1 column 9"),
        (b"{// why\n}", "comments are not JSON at line 1 column 2"),
        (b"{'a': 1}", "strings take double quotes, not single quotes at line 1 column 2"),
        (b'"\\ud800"', "the string holds an unpaired surrogate escape (\\ud800-\\udfff) at line 1 column 1"),
        (b'{"a": 1} {"a": 2}', "unexpected '{' after the JSON value at line 1 column 10"),
        (b"[" * 200, "nested deeper than 128 levels at line 1 column 130"),
        (b'{"a": tru}', "expected a value, got 't' at line 1 column 7"),
        (b'{"a":\x00}', "expected a value, got character U+0000 at line 1 column 6"),
    ],
)
def test_one_line_errors_with_their_position(data: bytes, message: str) -> None:
    assert fail(data).message == "f.json: not valid JSON: " + message


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    assert loads(b'\xef\xbb\xbf{"a": [1, 2.5, "x"]}', source="f.json") == {"a": [1, 2.5, "x"]}
    assert loads('\ufeff{"a": 1}', source="f.json") == {"a": 1}


def test_duplicate_keys_inside_a_list_of_objects_name_the_index() -> None:
    error = fail(b'{"members": [{"id": "a"},\n {"id": "b",\n  "id": "c"}]}')
    assert error.reason.startswith("key members[1].id given twice, at line 2 and line 3")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_give_one_line(raw: bytes) -> None:
    try:
        loads(raw, source="f.json")
    except JsonError as err:
        assert "\n" not in err.message


def test_a_key_spelt_with_escapes_is_still_the_same_key() -> None:
    """`"boot\\u0073trap"` is `"bootstrap"`: compared after decoding, as every reader does."""
    error = fail(b'{"bootstrap": false,\n "boot\\u0073trap": true}')
    assert error.reason.startswith("key bootstrap given twice, at line 1 and line 2")


def test_peer_answers_are_read_by_the_same_reader() -> None:
    from automation.http import Response

    def answer(body: bytes) -> Response:
        return Response(200, {}, body, "http://127.0.0.1:1/admin/members")

    assert answer(b'{"has_quorum": false, "has_quorum": true}').json() is None
    assert answer(b'{"has_quorum": NaN}').json() is None
    assert answer(b'\xef\xbb\xbf{"has_quorum": true}').json_object() == {"has_quorum": True}


json_ish = st.text(alphabet='{}[]":,0123456789.eE-+ \n\\uadtrfl"NIxy', max_size=40)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(json_ish, documents.map(json.dumps)))
def test_the_fast_path_accepts_exactly_what_the_positional_parser_accepts(text: str) -> None:
    """`loads` answers clean texts from the C parser and sends the others (and any surrogate
    escape) to the positional parser; if the two disagreed, a quirk could slip through."""
    import automation.jsonload as j

    if not text.strip(" \t\n\r") or j._SURROGATE.search(text):
        return
    try:
        value = json.loads(
            text, object_pairs_hook=j._unique, parse_constant=j._refuse, parse_float=j._finite, parse_int=j._int64
        )
        fast = j._depth(value) <= j.MAX_DEPTH
    except (ValueError, RecursionError):
        fast = False
    try:
        slow_value = j._Parser(text, "f.json").document()
        slow = True
    except JsonError:
        slow = False
    assert fast == slow, text
    if fast:
        assert json.dumps(value) == json.dumps(slow_value)
