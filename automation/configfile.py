"""Reading `cluster-config.json`: any bytes in, a ClusterConfig or one line per problem out.

Whatever the file holds (missing, empty, binary, huge, nested a thousand deep, wrong types)
the result is a `ConfigError` whose problems are single lines naming the JSON path, never a
traceback and never the value of a secret field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from automation import jsonload, regularfile
from automation.errors import ConfigError
from automation.spec.config import ClusterConfig, _quote
from automation.spec.environment import OVERRIDE_SECTIONS, VARIABLES

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


ENVIRONMENT = "environment"  # the source named for a problem in an FBA_* override
# How alike (difflib's ratio) an unknown FBA_* name and an override must be for the name to be
# that override misspelt (an error) rather than another tool's variable (a WARN): a swapped,
# missing or extra letter scores above 0.9; the harness's FBA_RUN_DEADLINE scores 0.8 against
# FBA_JOIN_DEADLINE_S.
MISSPELT_CUTOFF = 0.85
# An override that is an integer literal (ASCII digits, optional sign), and the most digits read
# as one (Python's int() refuses more than 4300).
_INTEGER = re.compile(r"[+-]?[0-9]+")
MAX_INT_DIGITS = 4000
# pydantic's bound checks; reported with both bounds of the field.
_BOUND_KINDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def load(path: Path, env: Mapping[str, str] | None = None) -> ClusterConfig:
    """Read and validate the config, with environment overrides. Raises ConfigError.

    Each problem is attributed to its source: the file, or the environment variable that set
    the field (`origins`), so that a bad override is not blamed on the file."""
    env = env or {}
    source = str(path)
    check_environment(env)
    document = _document(read_bytes(path), source)
    applied = _apply_environment(document, env)
    try:
        return _validate(document, source)
    except ConfigError as err:
        if not applied:
            raise
        attributed = [_env_problem(p, applied) for p in err.problems]
        problems = tuple(problem for problem, _ in attributed)
        origins = tuple(origin for _, origin in attributed)
        where = f"{ENVIRONMENT}: " if origins[0] == ENVIRONMENT else f"{source}: "
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(
            f"Configuration invalid: {where}{problems[0]}{more}", problems=problems, origins=origins
        ) from None


def override_names() -> dict[str, str]:
    """Every FBA_<SECTION>_<KEY> override, with the config field it sets."""
    names: dict[str, str] = {}
    for section in OVERRIDE_SECTIONS:
        model = ClusterConfig.model_fields[section].annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for key in model.model_fields:
                names[f"FBA_{section}_{key}".upper()] = f"{section}.{key}"
    return names


def _config_field_names(model: type[BaseModel] = ClusterConfig, prefix: str = "") -> dict[str, str]:
    """FBA_<PATH> for every field and section of the config, with its JSON path: the names a
    user may try as an override of a setting that cannot be overridden."""
    names: dict[str, str] = {}
    for key, field in model.model_fields.items():
        if field.alias and not field.alias.isidentifier():
            continue  # `$schema`
        path = f"{prefix}{key}"
        names[f"FBA_{path.replace('.', '_')}".upper()] = path
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names.update(_config_field_names(field.annotation, f"{path}."))
    return names


def check_environment(env: Mapping[str, str]) -> list[str]:
    """Judge every FBA_* name in the environment against the ones fba knows
    (`automation.spec.environment`, and the overrides derived from the config model).

    Raises ConfigError for a name that is meant as an override but sets nothing: a misspelt
    one (FBA_JOIN_DEADLINE for FBA_JOIN_DEADLINE_S, FBA_JION_DEADLINE_S, FBA_join_max_attempts:
    `_misspelt`) or a config setting that cannot be
    overridden (FBA_TLS_ENABLED, FBA_BOOTSTRAP): ignoring it would leave the file in charge
    while the operator believes otherwise. Returns a warning for every other unknown FBA_*
    name (it may belong to a tool around fba, such as the test harness), with a did-you-mean."""
    overrides = override_names()
    known = [*VARIABLES, *overrides]
    fields = _config_field_names()
    warnings: list[str] = []
    for name in sorted(env):
        if not name.startswith("FBA_") or name in VARIABLES or name in overrides:
            continue
        close = _closest(name, known, cutoff=0.75)
        hint = f"; did you mean {close}?" if close else ""
        section = next((s for s in OVERRIDE_SECTIONS if name.startswith(f"FBA_{s.upper()}_")), None)
        if section is not None:
            names = [n for n in overrides if n.startswith(f"FBA_{section.upper()}_")]
            hint = hint or f"; known: {', '.join(names)}"
            problem = f"{name}: unknown environment override{hint}"
        elif name in fields:
            sections = ", ".join(f"{s}.*" for s in OVERRIDE_SECTIONS)
            problem = (
                f"{name}: {fields[name]} cannot be overridden from the environment (only {sections} can){hint}; "
                "set it in the config file"
            )
        elif meant := _misspelt(name, known, list(overrides)):
            why = "names are case-sensitive" if meant.upper() == name.upper() else "a misspelt override?"
            problem = f"{name}: not a variable fba reads ({why}); did you mean {meant}?"
        else:
            warnings.append(f"{name}: not a variable fba reads; ignored{hint}")
            continue
        raise ConfigError(
            f"Configuration invalid: {ENVIRONMENT}: {problem}", problems=(problem,), origins=(ENVIRONMENT,)
        )
    return warnings


def _apply_environment(document: Any, env: Mapping[str, str]) -> list[str]:
    """Set FBA_<SECTION>_<KEY> values into the parsed document, before validation, so that the
    result knows exactly which fields were written (by the file or the environment) and every
    other field keeps its documented default. (Overriding a validated-and-dumped copy turned
    every default into a "written" value and every secret into its mask.)"""
    applied: list[str] = []
    if not isinstance(document, dict):
        return applied
    for name, path in override_names().items():
        if name not in env:
            continue
        section, _, key = path.partition(".")
        target = document.setdefault(section, {})
        if not isinstance(target, dict):
            continue
        raw = env[name]
        _refuse_non_utf8(name, raw)
        try:
            value = jsonload.loads(raw, source=name)
        except jsonload.JsonError:
            # An integer too large for the JSON reader is still an integer: handed on as a
            # Python int, the model judges it against the field's bounds ("out of range"), where
            # the raw text was reported as "expected an integer". The length cap keeps int()
            # within Python's own digit limit (and nothing near it is in any field's range).
            value = int(raw) if _INTEGER.fullmatch(raw) and len(raw) <= MAX_INT_DIGITS else raw
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
        raise ConfigError(
            f"Configuration invalid: {ENVIRONMENT}: {problem}", problems=(problem,), origins=(ENVIRONMENT,)
        ) from None


def _misspelt(name: str, known: list[str], overrides: list[str]) -> str | None:
    """The known name an unknown FBA_* name was meant to be, when it is surely one: the same
    ignoring case (environment names are case-sensitive, so FBA_join_max_attempts sets
    nothing), or an override a letter or two off (FBA_JION_DEADLINE_S). A WARN for either left
    the default in charge while the operator believed otherwise. The harness's own names
    (FBA_RUN_DEADLINE, FBA_NET_MODE) are further off than MISSPELT_CUTOFF: they stay WARNs."""
    same = next((k for k in known if k.upper() == name.upper()), None)
    return same or _closest(name.upper(), overrides, cutoff=MISSPELT_CUTOFF)


def _closest(name: str, known: list[str], cutoff: float = 0.6) -> str | None:
    """The known name a misspelt one most likely meant, if any is close."""
    import difflib  # here, not at the top: only a misspelt key needs it, not every config read

    close = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    return close[0] if close else None


def _env_problem(problem: str, applied: list[str]) -> tuple[str, str | None]:
    """The problem naming the variable that set the field, and its origin (None: the file)."""
    path = problem.partition(":")[0]
    name = "FBA_" + path.replace(".", "_").upper()
    if name in applied:
        return f"{name} ({path}){problem[len(path) :]}", ENVIRONMENT
    return problem, None


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
    if kind in _BOUND_KINDS:
        return f"{prefix}out of range ({_bounds(loc) or error.get('msg', kind)}){got}"
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


def _bounds(loc: Sequence[str | int]) -> str:
    """The field's bounds as text ("from 1 to 1000", "above 0, at most 86400"), from its model."""
    owner = _model_at(loc[:-1]) if loc else None
    field = owner.model_fields.get(str(loc[-1])) if owner else None
    if field is None:
        return ""
    words = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}
    parts = []
    for item in field.metadata:
        for attr, word in words.items():
            bound = getattr(item, attr, None)
            if bound is not None:
                parts.append(f"{word} {bound}")
    return ", ".join(parts)


def _json_repr(value: object) -> str:
    if isinstance(value, str):
        return _quote(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def default_config_path() -> Path:
    return Path(os.environ.get("FBA_CONFIG") or "/etc/nixos/secrets/cluster-config.json")
