"""One path, one role: no two files fba writes or reads as secrets/state may be the same file.

Each path the operator gives (the config, the IAM credentials and bootstrap token, the TLS
files, the Prometheus textfile) and each file fba keeps in the state dir (markers, their
`.leaving` copies, step locks) was checked on its own. Two of them configured onto one file
let one of fba's own writers destroy the other's content (break 10, G1/G9): `health-report`
wrote its metrics over the only copy of the admin password, `iam-setup` wrote the
`.iam-initialized` marker over it. A pair is refused when at least one side is written by
fba and both resolve to the same file (through symlinks, or hard links: same device and
inode). Readers sharing a file (a certificate and its key in one PEM) are fine.

`ClusterConfig` refuses the spellings it can see (the same path written twice);
`clash` adds what only a run knows: the config's own path, the state dir, and where links
lead now. Commands call it when they load the config, and the two writers call `refuse_write`
just before they write, for a link created since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from automation.errors import ConfigError, MarkerError
from automation.spec.config import ClusterConfig
from automation.spec.markers import Service, Step, leaving_name, lock_name, marker_name


@dataclass(frozen=True)
class Role:
    setting: str  # how the operator names it: a config key, "the config file", a marker
    path: Path
    writes: bool  # fba replaces this file


def state_names() -> tuple[str, ...]:
    """Every file name fba writes in the state dir."""
    names: list[str] = []
    for service in Service:
        for step in Step:
            name = marker_name(service, step)
            names += [name, leaving_name(name)]
        names.append(lock_name(service))
    return tuple(names)


def roles(cfg: ClusterConfig | None, config_path: Path | None = None, state_dir: Path | None = None) -> list[Role]:
    """Every role's file. Without a config (`fba status`, which works without one): only the
    config file's own path and the state dir's names."""
    out = [] if cfg is None else _configured(cfg)
    if config_path is not None:
        out.append(Role("the config file", config_path, False))
    if state_dir is not None:
        out += [Role(f"{name} in the state dir", state_dir / name, True) for name in state_names()]
    return out


def _configured(cfg: ClusterConfig) -> list[Role]:
    out = [Role("iam.credentials_path", Path(cfg.iam.credentials_path), True)]
    if cfg.prometheus_textfile:
        out.append(Role("prometheus_textfile", Path(cfg.prometheus_textfile), True))
    out.append(Role("iam.bootstrap_token_path", Path(cfg.iam.bootstrap_token_path), False))
    for key in ("ca_cert_path", "node_cert_path", "node_key_path"):
        value = getattr(cfg.tls, key)
        if value:
            out.append(Role(f"tls.{key}", Path(value), False))
    return out


def _key(path: Path) -> tuple[str, tuple[int, int] | None]:
    """Where `path` leads now: its resolved name and, when it exists, its (device, inode)."""
    resolved = os.path.realpath(path)
    try:
        info = os.stat(resolved)
    except OSError:
        return resolved, None
    return resolved, (info.st_dev, info.st_ino)


def _same(a: tuple[str, tuple[int, int] | None], b: tuple[str, tuple[int, int] | None]) -> bool:
    return a[0] == b[0] or (a[1] is not None and a[1] == b[1])


def _problem(writer: Role, other: Role, where: str) -> str:
    return (
        f"{writer.setting} and {other.setting} are the same file ({where}): fba writes {writer.setting} "
        f"there and would destroy {other.setting}; give each its own file"
    )


def clash(
    cfg: ClusterConfig, config_path: Path | None, state_dir: Path | None, *, only: str | None = None
) -> str | None:
    """One line naming the first two settings that are the same file, or None.

    `only`: check just this writer (a config key) against every other file."""
    every = roles(cfg, config_path, state_dir)
    keys = [_key(r.path) for r in every]
    for i, writer in enumerate(every):
        if not writer.writes or (only is not None and writer.setting != only):
            continue
        for j, other in enumerate(every):
            if j == i or (only is None and other.writes and j < i):
                continue  # a pair of writers is reported once
            if other.setting.endswith(" in the state dir") and writer.setting.endswith(" in the state dir"):
                continue  # fba's own names never collide
            if _same(keys[i], keys[j]):
                return _problem(writer, other, keys[i][0])
    return None


def refuse_clash(cfg: ClusterConfig, config_path: Path | None, state_dir: Path | None) -> None:
    """Raises ConfigError (exit 3, before any request) when two roles share a file."""
    problem = clash(cfg, config_path, state_dir)
    if problem:
        raise ConfigError(f"Configuration invalid: {problem}", problems=(problem,))


def refuse_write(cfg: ClusterConfig, setting: str, config_path: Path | None, state_dir: Path | None) -> None:
    """Raises MarkerError (nothing written) when `setting`'s file is now another role's file:
    a link created after the command started is caught where the write happens."""
    problem = clash(cfg, config_path, state_dir, only=setting)
    if problem:
        raise MarkerError(f"not written: {problem}")


def role_of(path: Path, cfg: ClusterConfig | None, config_path: Path | None) -> str | None:
    """The setting whose file `path` is now (through links, or a hard link), or None: for a
    reader that must not quote a file that is another role's (`fba status` and a marker path
    that leads to the bootstrap token: break 11, H8)."""
    key = _key(path)
    return next((role.setting for role in roles(cfg, config_path) if _same(key, _key(role.path))), None)
