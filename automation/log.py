"""JSON-line logging to stdout, which journald captures.

One object per line, compact separators so the design's `grep '"level":"ERROR"'` works:
`{"timestamp":..., "level":..., "service":..., "operation":..., "node_id":..., "message":...,
"context":{...}}`. Secrets never reach a line: `SecretStr` values render masked, and any
string registered with `Redactor.add` is replaced wherever it appears.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
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
            # A secret quoted from a peer's answer arrives transformed: JSON-escaped (a `"` or
            # `\` in it doubled) or percent-encoded. Each form is redacted like the secret
            # itself (break 10, G7: a JSON-escaped token reached the journal whole).
            from json import dumps
            from urllib.parse import quote

            self._secrets.add(dumps(value)[1:-1])
            self._secrets.add(quote(value, safe=""))

    def clean(self, value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "**********"
        if isinstance(value, str):
            for secret in sorted(self._secrets, key=len, reverse=True):
                value = _redact(value, secret)
            return value
        if isinstance(value, Mapping):
            return {str(k): self.clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.clean(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.clean(str(value))


def _redact(value: str, secret: str) -> str:
    """`value` with every copy of `secret` replaced, and every run of at least `MIN_PARTIAL`
    characters that starts like it: an answer quoted up to a length (`Response.excerpt`) cuts
    an echoed secret, and the cut copy never matched the whole one (break 10, G7: 37 of a
    token's 64 characters reached the journal). Shorter secrets are matched whole only."""
    if secret in value:
        value = value.replace(secret, REDACTED)
    if len(secret) <= MIN_PARTIAL:
        return value
    head = secret[:MIN_PARTIAL]
    start = value.find(head)
    while start != -1:
        end = start + MIN_PARTIAL
        while end < len(value) and end - start < len(secret) and value[end] == secret[end - start]:
            end += 1
        value = value[:start] + REDACTED + value[end:]
        start = value.find(head, start + len(REDACTED))
    return value


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
