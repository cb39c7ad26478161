from __future__ import annotations

import io
import json

from pydantic import SecretStr

from automation.log import Logger


def test_lines_are_compact_json_with_the_designs_fields() -> None:
    out = io.StringIO()
    Logger(stream=out).bind(service="chainfire", operation="cluster-join", node_id="node04").error(
        "Join request failed: connection error", attempt=3, http_code=None, cause="connection refused"
    )
    line = out.getvalue().strip()
    assert '"level":"ERROR"' in line  # the design's grep works
    record = json.loads(line)
    assert record["service"] == "chainfire" and record["operation"] == "cluster-join" and record["node_id"] == "node04"
    assert record["message"] == "Join request failed: connection error"
    assert record["context"] == {"attempt": 3, "cause": "connection refused"}
    assert record["timestamp"].endswith("+00:00")


def test_registered_secrets_and_secretstr_never_printed() -> None:
    out = io.StringIO()
    log = Logger(stream=out)
    log.redactor.add("hunter2-password")
    log.info("created admin with hunter2-password", token=SecretStr("tok-abcdef"), nested={"x": ["hunter2-password"]})
    text = out.getvalue()
    assert "hunter2" not in text and "tok-abcdef" not in text
    assert "[REDACTED]" in text


def test_debug_is_hidden_by_default() -> None:
    out = io.StringIO()
    Logger(stream=out).debug("noise")
    assert out.getvalue() == ""


class _Gone(io.StringIO):
    """A stdout whose reader left (EPIPE) or that was closed under us (ValueError)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


def test_a_closed_or_broken_stream_loses_the_line_not_the_step() -> None:
    # break6 #9: the first log line raised, and the join ended before reaching the leader.
    for stream in (_Gone(BrokenPipeError(32, "Broken pipe")), _Gone(ValueError("I/O operation on closed file"))):
        Logger(stream=stream).error("still running")
    Logger(stream=None).info("stdout closed at start-up: sys.stdout is None")  # type: ignore[arg-type]


def test_a_secret_cut_by_an_excerpt_or_escaped_never_printed() -> None:
    """Break 10, G7: only whole copies were redacted; a peer's echo cut at the excerpt's 200
    bytes, or JSON-escaped, or percent-encoded, reached the journal."""
    token = "4f" * 32
    quoted = 'Tok3n"With\\Quote-abcdefgh'
    out = io.StringIO()
    log = Logger(stream=out)
    log.redactor.add(token)
    log.redactor.add(quoted)
    body = json.dumps({"error": "invalid token", "received": f"Bearer {token}"})
    cut = body[: body.index(token) + 37] + "..."
    log.error(f"HTTP 401: {cut}")
    log.error(f"HTTP 401: {json.dumps({'received': quoted})}")
    log.error(f"HTTP 401: {json.dumps({'received': quoted})[:26]}")
    log.error("url", url="http://x/?t=Tok3n%22With%5CQuote-abcdefgh")
    text = out.getvalue()
    assert token[:8] not in text and "Tok3n" not in text, text
    assert text.count("[REDACTED]") == 4, text


def test_short_secrets_and_unrelated_text_are_kept() -> None:
    out = io.StringIO()
    log = Logger(stream=out)
    log.redactor.add("abcdefghijkl")
    log.redactor.add("pw12")
    log.info("abcdefg abcdefgX pw1 abcdefghZZ")
    assert "abcdefg abcdefgX pw1 [REDACTED]ZZ" in out.getvalue()
