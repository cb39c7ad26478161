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
