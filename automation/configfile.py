"""Reading `cluster-config.json`: any bytes in, a ClusterConfig or one line per problem out.

Whatever the file holds (missing, empty, binary, huge, nested a thousand deep, wrong types)
the result is a `ConfigError` whose problems are single lines naming the JSON path, never a
traceback and never the value of a secret field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from automation import jsonload, regularfile
from automation.errors import ConfigError
from automation.spec.config import ClusterConfig, _quote

MAX_CONFIG_BYTES = 1024 * 1024
_SECRET_FIELDS = {"notify_token"}
_JSON_TYPES = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "string": "a string",
    "list": "a list",
    "dict": "an object",
    "model": "an object",
}


# Sections whose scalar settings may be overridden from the environment as FBA_<SECTION>_<KEY>
# (the NixOS module sets these from its options; unset leaves the file in charge).
ENV_SECTIONS = ("health", "join")


def load(path: Path, env: Mapping[str, str] | None = None) -> ClusterConfig:
    """Read and validate the config, with environment overrides. Raises ConfigError."""
    source = str(path)
    document = _document(read_bytes(path), source)
    applied = _apply_environment(document, env or {})
    try:
        return _validate(document, source)
    except ConfigError as err:
        if not applied:
            raise
        problems = tuple(_env_problem(p, applied) for p in err.problems)
        raise ConfigError(f"Configuration invalid: environment override: {problems[0]}", problems=problems) from None


def _apply_environment(document: Any, env: Mapping[str, str]) -> list[str]:
    """Set FBA_<SECTION>_<KEY> values into the parsed document, before validation, so that the
    result knows exactly which fields were written (by the file or the environment) and every
    other field keeps its documented default. (Overriding a validated-and-dumped copy turned
    every default into a "written" value and every secret into its mask.)"""
    applied: list[str] = []
    if not isinstance(document, dict):
        return applied
    for section in ENV_SECTIONS:
        model = ClusterConfig.model_fields[section].annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        _refuse_unknown(section, list(model.model_fields), env)
        for key in model.model_fields:
            name = f"FBA_{section}_{key}".upper()
            if name not in env:
                continue
            target = document.setdefault(section, {})
            if not isinstance(target, dict):
                continue
            raw = env[name]
            _refuse_non_utf8(name, raw)
            try:
                value = jsonload.loads(raw, source=name)
            except jsonload.JsonError:
                value = raw  # a bare word such as `fixed` is meant as a string
            target[key] = value
            applied.append(name)
    return applied


def _refuse_non_utf8(name: str, raw: str) -> None:
    """An override whose bytes are not UTF-8 is an error naming the variable. (Python hands
    such bytes over as lone surrogates, which went on into the document and came back as
    "local.json: not valid JSON: lone leading surrogate", blaming the file.)"""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as err:
        char = ord(raw[err.start])
        byte = f"byte 0x{char - 0xDC00:02X}" if 0xDC80 <= char <= 0xDCFF else f"character U+{char:04X}"
        problem = f"{name}: not UTF-8 text ({byte} at offset {err.start})"
        raise ConfigError(f"Configuration invalid: environment override: {problem}", problems=(problem,)) from None


def _refuse_unknown(section: str, keys: list[str], env: Mapping[str, str]) -> None:
    """A misspelt override (FBA_JOIN_DEADLINE for FBA_JOIN_DEADLINE_S) is an error, as an
    unknown key in the file is: silently ignoring it would leave the default in charge."""
    prefix = f"FBA_{section}_".upper()
    known = [f"{prefix}{key.upper()}" for key in keys]
    for name in sorted(env):
        if name.startswith(prefix) and name not in known:
            close = _closest(name, known)
            hint = f"; did you mean {close}?" if close else f"; known: {', '.join(known)}"
            problem = f"{name}: unknown environment override{hint}"
            raise ConfigError(f"Configuration invalid: environment override: {problem}", problems=(problem,))


def _closest(name: str, known: list[str]) -> str | None:
    """The known name a misspelt one most likely meant, if any is close."""
    import difflib  # here, not at the top: only a misspelt key needs it, not every config read

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _env_problem(problem: str, applied: list[str]) -> str:
    path = problem.partition(":")[0]
    name = "FBA_" + path.replace(".", "_").upper()
    return f"{name} ({path}){problem[len(path) :]}" if name in applied else problem


def read_bytes(path: Path) -> bytes:
    """The file's bytes, at most MAX_CONFIG_BYTES. Raises ConfigError (one line) for every way
    it can fail.

    Only a regular file (or a symlink to one) is read: a FIFO nobody writes to once hung the
    boot step on its open (and then, waited for, still held it 10 s), and `/dev/zero` never
    ends (`automation.regularfile`)."""
    try:
        return regularfile.read(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"Configuration file not found: {path}") from None
    except regularfile.NotARegularFile as err:
        raise ConfigError(f"Configuration file is {regularfile.describe(err)}: {path}") from None
    except regularfile.FileTooLarge:
        raise ConfigError(f"Configuration file too large: {path} is over {MAX_CONFIG_BYTES} bytes") from None
    except OSError as err:
        raise ConfigError(f"Configuration file unreadable: {path}: {regularfile.describe(err)}") from None


def parse(data: bytes, *, source: str = "<config>") -> ClusterConfig:
    return _validate(_document(data, source), source)


def _document(data: bytes, source: str) -> Any:
    if not data.strip():
        raise ConfigError(f"Configuration file is empty: {source}")
    try:
        return jsonload.loads(data, source=source)
    except jsonload.JsonError as err:
        raise ConfigError(f"Configuration file {err.message}", problems=(err.detail,)) from err


def _validate(document: Any, source: str) -> ClusterConfig:
    try:
        # Re-serialised from the checked document: pydantic's own JSON mode keeps the config's
        # strictness (enums as strings, no "true" for true) without a second set of rules.
        return ClusterConfig.model_validate_json(json.dumps(document))
    except ValidationError as err:
        problems = tuple(dict.fromkeys(describe_errors(err.errors(include_url=False))))
        raise ConfigError(
            f"Configuration invalid: {source}: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            problems=problems,
        ) from None


def describe_errors(errors: Sequence[Any]) -> Iterable[str]:
    for error in errors:
        yield _describe(error)


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # Keys come from the file: escape control characters and cap the length, so a
            # hostile key cannot break the one-line-per-problem promise.
            key = part if part.isprintable() else part.encode("unicode_escape").decode("ascii")
            key = key if len(key) <= 60 else key[:57] + "..."
            out += ("." if out else "") + key
    return out


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model that owns the object at `loc`, for did-you-mean suggestions."""
    model: type[BaseModel] = ClusterConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


def _describe(error: Any) -> str:
    loc: tuple[str | int, ...] = tuple(error.get("loc", ()))
    kind: str = error.get("type", "")
    value = error.get("input")
    secret = any(part in _SECRET_FIELDS for part in loc if isinstance(part, str))
    got = "" if secret or isinstance(value, (dict, list)) else f", got {_json_repr(value)}"
    where = _path(loc)
    prefix = f"{where}: " if where else ""
    if kind == "json_invalid":
        return f"not valid JSON: {error.get('ctx', {}).get('error', error.get('msg', ''))}"
    if kind == "missing":
        return f"{prefix}required field is missing"
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        known = [f.alias or name for name, f in owner.model_fields.items()] if owner else []
        name = _path(loc[-1:]) if loc else ""
        close = _closest(name, known)
        hint = f"; did you mean {close!r}?" if close else f"; known keys: {', '.join(known)}" if known else ""
        return f"{prefix}unknown key{hint}"
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error.get("msg", "")))
        return message if where and message.startswith(f"{where}:") else f"{prefix}{message}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        expected = _JSON_TYPES.get(kind.split("_")[0], kind.split("_")[0])
        return f"{prefix}expected {expected}{got}"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{prefix}expected one of {expected}{got}"
    if kind == "string_pattern_mismatch":
        return f"{prefix}expected text matching {error.get('ctx', {}).get('pattern')}{got}"
    message = str(error.get("msg", kind))
    return f"{prefix}{message[0].lower() + message[1:] if message else kind}{got}"


def _json_repr(value: object) -> str:
    if isinstance(value, str):
        return _quote(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def default_config_path() -> Path:
    return Path(os.environ.get("FBA_CONFIG", "/etc/nixos/secrets/cluster-config.json"))
