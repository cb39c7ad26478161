"""Break 12, K1: a registered secret is masked whole in every encoding a peer may echo it in,
whichever rule matches first."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Callable
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from automation.log import REDACTED, Logger, Redactor

BASE64_TOKEN = "Qm9vdHN0cmFwVG9r/ZW5TZWNyZXQrQWJjZGVm+R2hp"  # what `openssl rand -base64` gives


def _json_all_u(value: str) -> str:
    units = value.encode("utf-16-be")  # JSON escapes what is beyond the BMP as a surrogate pair
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def _surrogates(value: str) -> str:
    return json.dumps(value, ensure_ascii=True)[1:-1]


ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda v: v,
    "python json": lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    "python json ascii": _surrogates,
    "php json (\\/)": lambda v: json.dumps(v)[1:-1].replace("/", "\\/"),
    "dotnet json (\\u002B)": lambda v: "".join(f"\\u{ord(c):04X}" if c in "+<>&'=" else c for c in json.dumps(v)[1:-1]),
    "all \\u": _json_all_u,
    "percent": lambda v: quote(v, safe=""),
    "percent lower hex": lambda v: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(v, safe="")),
    "html entities": lambda v: html.escape(v).replace("/", "&#x2F;").replace("+", "&#43;"),
    "json twice": lambda v: json.dumps(json.dumps(v)[1:-1])[1:-1],
    "json then percent": lambda v: quote(json.dumps(v)[1:-1], safe=""),
}

# What base64, base64url, hex and the punctuation people put in passwords are made of.
SECRET_ALPHABET = st.characters(
    codec="utf-8", categories=("Lu", "Ll", "Nd", "Po", "Sm", "Pd", "Ps", "Pe", "Sc", "Lo"), exclude_characters="\x00"
) | st.sampled_from("/+=-_~:@!$&'()*,;?#%\\\"")
SECRETS = st.text(SECRET_ALPHABET, min_size=4, max_size=64)
PREFIX = 'error: bad token "'
SUFFIX = '" (try again)'


def test_a_base64_token_echoed_raw_is_masked_whole_in_message_and_context() -> None:
    out = io.StringIO()
    log = Logger(stream=out)
    log.redactor.add(BASE64_TOKEN)
    body = json.dumps({"error": f'invalid bootstrap token "{BASE64_TOKEN}"'})
    log.error(f"IAM refused: HTTP 401: {body}", detail=body)
    line = out.getvalue()
    for piece in ("/ZW5TZWNyZXQr", "R2hp", "VG9r"):
        assert piece not in line, line
    assert line.count(REDACTED) == 2


@given(secret=SECRETS, encoding=st.sampled_from(sorted(ENCODINGS)))
@settings(max_examples=600, deadline=None)
def test_every_encoding_of_a_secret_is_masked_whole(secret: str, encoding: str) -> None:
    redactor = Redactor()
    redactor.add(secret)
    encoded = ENCODINGS[encoding](secret)
    assert redactor.clean(PREFIX + encoded + SUFFIX) == PREFIX + REDACTED + SUFFIX


@given(
    secret=st.text(SECRET_ALPHABET, min_size=9, max_size=64),
    encoding=st.sampled_from(sorted(ENCODINGS)),
    cut=st.floats(0, 1),
)
@settings(max_examples=600, deadline=None)
def test_a_cut_copy_in_any_encoding_leaves_no_whole_character_of_the_secret(
    secret: str, encoding: str, cut: float
) -> None:
    """An answer quoted up to a length cuts the echo anywhere, even inside an escape: what is
    left after the mask is less than one encoded character."""
    redactor = Redactor()
    redactor.add(secret)
    encoded = ENCODINGS[encoding](secret)
    head = len(ENCODINGS[encoding](secret[:8]))  # at least the partial rule's 8 characters
    kept = encoded[: head + round(cut * (len(encoded) - head))]
    cleaned = redactor.clean(PREFIX + kept)
    assert cleaned.startswith(PREFIX + REDACTED), cleaned
    longest = max(len(ENCODINGS[encoding](c)) for c in secret)  # `\ud83d\ude00`, `%F0%9F%98%80`...
    assert len(cleaned) - len(PREFIX + REDACTED) < longest, cleaned


@given(
    secret=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEF"), min_size=4, max_size=40),
    text=st.text(st.sampled_from('0123456789 \\"%&;#xXuU/+='), max_size=80),
)
@settings(max_examples=300, deadline=None)
def test_escapes_around_no_secret_are_left_alone(secret: str, text: str) -> None:
    redactor = Redactor()
    redactor.add(secret)
    assert redactor.clean(text) == text


def test_several_secrets_overlapping_copies_are_all_masked() -> None:
    redactor = Redactor()
    redactor.add("abcdefgh/ijklmnop")
    redactor.add("ijklmnop+qrstuvwx")
    text = "x abcdefgh%2Fijklmnop+qrstuvwx y abcdefgh\\/ijkl"
    assert redactor.clean(text) == f"x {REDACTED} y {REDACTED}"
