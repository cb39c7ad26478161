"""The one rule for files that hold secrets, applied where each is loaded and by `preflight`.

The files: the config itself (it can hold `notify_token`), the mTLS private key
(`tls.node_key_path`), the IAM bootstrap token and the IAM credentials file. The rule:

- any permission bit for "others" (world-readable, -writable or -executable): refused, exit 3,
  naming the file and its mode. A secret others can read is already leaked; using it would
  hide that. (ssh refuses such a private key for the same reason.)
- group bits: allowed with a WARN naming the file, its mode and its group. NixOS keeps keys
  `root:keys 0640` on purpose, so refusing would break the platform's own convention.
- owner-only (0600, 0400): silent.

`enforce` is what commands call before they use a file; `preflight` calls `inspect` on the
same list and reports each verdict as a check, so both always agree.
"""

from __future__ import annotations

import grp
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from automation.errors import ConfigError
from automation.log import Logger
from automation.spec.config import ClusterConfig


class Exposure(StrEnum):
    PRIVATE = "private"  # owner only
    GROUP = "group"  # WARN
    WORLD = "world"  # refused
    ABSENT = "absent"  # nothing to judge; the loader reports a missing file itself


@dataclass(frozen=True)
class SecretFile:
    check: str  # the preflight check's name
    what: str  # what the file is, with its config key
    path: Path


@dataclass(frozen=True)
class Verdict:
    file: SecretFile
    exposure: Exposure
    mode: int = 0
    group: str = ""

    @property
    def detail(self) -> str:
        path, mode = self.file.path, f"{self.mode:04o}"
        if self.exposure is Exposure.WORLD:
            how = "world-readable" if self.mode & stat.S_IROTH else "open to others"
            return f"{self.file.what} {path} is {how} (mode {mode}); fba refuses to use it: chmod o-rwx {path}"
        if self.exposure is Exposure.GROUP:
            how = "group-writable" if self.mode & stat.S_IWGRP else "group-readable"
            return f"{self.file.what} {path} is {how} (mode {mode}, group {self.group}); every member of it can read it"
        if self.exposure is Exposure.ABSENT:
            return f"{self.file.what} {path} is absent; not checked"
        return f"{self.file.what} {path} is private (mode {mode})"


class SecretFileExposed(ConfigError):
    """A secret file is open to others (exit 3 like any invalid configuration)."""


def judge(file: SecretFile, st_mode: int, st_gid: int) -> Verdict:
    """The rule itself, on stat values (so it can be tested without chmod)."""
    mode = stat.S_IMODE(st_mode)
    if mode & stat.S_IRWXO:
        return Verdict(file, Exposure.WORLD, mode, _group_name(st_gid))
    if mode & stat.S_IRWXG:
        return Verdict(file, Exposure.GROUP, mode, _group_name(st_gid))
    return Verdict(file, Exposure.PRIVATE, mode, _group_name(st_gid))


def inspect(file: SecretFile) -> Verdict:
    try:
        info = os.stat(file.path)  # follows symlinks: NixOS secret managers link into /run
    except OSError:
        return Verdict(file, Exposure.ABSENT)
    return judge(file, info.st_mode, info.st_gid)


def enforce(files: Iterable[SecretFile], log: Logger) -> None:
    """WARN for each group-readable file; raise for the first one open to others.

    Raises:
        SecretFileExposed: a file has a permission bit for others (the message names the file
            and its mode).
    """
    for file in files:
        verdict = inspect(file)
        if verdict.exposure is Exposure.WORLD:
            raise SecretFileExposed(verdict.detail)
        if verdict.exposure is Exposure.GROUP:
            log.warn(verdict.detail, path=str(file.path), mode=f"{verdict.mode:04o}", group=verdict.group)


def config_file(path: Path) -> SecretFile:
    return SecretFile("config-permissions", "config file (it can hold notify_token)", path)


def tls_files(config: ClusterConfig) -> tuple[SecretFile, ...]:
    """The TLS secrets every HTTP client of this config loads (certificates are public)."""
    key = config.tls.node_key_path
    return (SecretFile("tls-key-permissions", "TLS private key (tls.node_key_path)", Path(key)),) if key else ()


def bootstrap_token_file(config: ClusterConfig) -> SecretFile:
    path = Path(config.iam.bootstrap_token_path)
    return SecretFile("iam-token-permissions", "IAM bootstrap token (iam.bootstrap_token_path)", path)


def credentials_file(config: ClusterConfig) -> SecretFile:
    path = Path(config.iam.credentials_path)
    return SecretFile("iam-credentials-permissions", "IAM credentials file (iam.credentials_path)", path)


def all_files(config: ClusterConfig, config_path: Path) -> tuple[SecretFile, ...]:
    """Every secret file of this node, in the order preflight reports them."""
    return (config_file(config_path), *tls_files(config), bootstrap_token_file(config), credentials_file(config))


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
