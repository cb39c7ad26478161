"""Reading `cluster-config.json`: any bytes in, a ClusterConfig or one line per problem out.

Whatever the file holds (missing, empty, binary, huge, nested a thousand deep, wrong types)
the result is a `ConfigError` whose problems are single lines naming the JSON path, never a
traceback and never the value of a secret field.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

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
    config = parse(read_bytes(path), source=str(path))
    return apply_environment(config, env) if env else config


def apply_environment(config: ClusterConfig, env: Mapping[str, str]) -> ClusterConfig:
    data = config.model_dump(mode="json", by_alias=True)
    applied = []
    for section in ENV_SECTIONS:
        for key in data[section]:
            name = f"FBA_{section}_{key}".upper()
            if name not in env:
                continue
            raw = env[name]
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
            data[section][key] = value
            applied.append(name)
    if not applied:
        return config
    try:
        return ClusterConfig.model_validate_json(json.dumps(data))
    except ValidationError as err:
        problems = tuple(_env_problem(p, applied) for p in describe_errors(err.errors(include_url=False)))
        raise ConfigError(f"Configuration invalid: environment override: {problems[0]}", problems=problems) from None


def _env_problem(problem: str, applied: list[str]) -> str:
    path = problem.partition(":")[0]
    name = "FBA_" + path.replace(".", "_").upper()
    return f"{name} ({path}){problem[len(path) :]}" if name in applied else problem


def read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"Configuration file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"Configuration file is a directory: {path}") from None
    except OSError as err:
        raise ConfigError(f"Configuration file unreadable: {path}: {err.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"Configuration file too large: {path} is over {MAX_CONFIG_BYTES} bytes")
    return data


def parse(data: bytes, *, source: str = "<config>") -> ClusterConfig:
    if not data.strip():
        raise ConfigError(f"Configuration file is empty: {source}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"Configuration file is not UTF-8 text: {source}: byte {err.start}") from None
    try:
        return ClusterConfig.model_validate_json(text)
    except ValidationError as err:
        problems = tuple(dict.fromkeys(describe_errors(err.errors(include_url=False))))
        raise ConfigError(
            f"Configuration invalid: {source}: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            problems=problems,
        ) from None
    except (RecursionError, ValueError) as err:
        raise ConfigError(f"Configuration file is not valid JSON: {source}: {type(err).__name__}") from None


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
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}" if known else ""
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


def permission_problems(path: Path, *, private_key: bool) -> str | None:
    """Say so when a file is readable by group or others (WARN for config, error for keys)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        what = "private key" if private_key else "config file"
        return f"{what} {path} is accessible by group/others (mode {stat.S_IMODE(mode):04o}); expected 0600"
    return None


def default_config_path() -> Path:
    return Path(os.environ.get("FBA_CONFIG", "/etc/nixos/secrets/cluster-config.json"))
