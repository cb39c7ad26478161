"""JSON-line logging: one object per line on stdout, never a secret.

Callers log events with fields, not formatted strings. Secrets registered with `redact()`
(the bootstrap token, issued tokens) are scrubbed from every line as a last line of
defence; the first line is that handlers never pass passwords or tokens to the logger.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

_REDACTED = "[redacted]"


class JsonLog:
    """A tiny structured logger bound to one service and node."""

    def __init__(self, service: str, node_id: str, fmt: str = "json",
                 stream: TextIO | None = None) -> None:
        self._service = service
        self._node_id = node_id
        self._fmt = fmt
        self._stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def redact(self, secret: str) -> None:
        """Never print `secret`, whatever field it sneaks into."""
        if len(secret) >= 8:
            with self._lock:
                self._secrets.add(secret)

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        record: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level, "service": self._service, "node_id": self._node_id,
            "message": event,
        }
        record.update(fields)
        if self._fmt == "json":
            line = json.dumps(record, default=str, sort_keys=False)
        else:
            extras = " ".join(f"{k}={v}" for k, v in fields.items())
            line = f"{record['timestamp']} {level} {self._service} {event} {extras}".rstrip()
        with self._lock:
            for secret in self._secrets:
                line = line.replace(secret, _REDACTED)
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed stdout must not take the daemon down

    def info(self, event: str, **fields: Any) -> None:
        self._emit("INFO", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("WARN", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("ERROR", event, fields)


class _Bridge(logging.Handler):
    """Feeds the stdlib `logging` records of pysyncobj into the JSON log."""

    def __init__(self, log: JsonLog) -> None:
        super().__init__(level=logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            self._log.error("raft library", detail=text, logger=record.name)
        else:
            self._log.warning("raft library", detail=text, logger=record.name)


def bridge_stdlib_logging(log: JsonLog) -> None:
    """Route pysyncobj's warnings and errors into `log` (its info chatter is dropped)."""
    root = logging.getLogger("pysyncobj")
    root.handlers[:] = [_Bridge(log)]
    root.setLevel(logging.WARNING)
    root.propagate = False
