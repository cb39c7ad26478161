"""One path, one role (break 10, G1/G9): a file fba writes is never another setting's file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from automation import pathroles
from automation.configfile import parse
from automation.errors import ConfigError, MarkerError
from automation.spec.config import ClusterConfig


def _parse(data: dict[str, Any]) -> ClusterConfig:
    return parse(json.dumps(data).encode())


def _config(join_config: dict[str, Any], tmp_path: Path, **changes: Any) -> ClusterConfig:
    data = dict(join_config)
    data["iam"] = {
        "credentials_path": str(tmp_path / "secrets" / "iam-admin.json"),
        "bootstrap_token_path": str(tmp_path / "secrets" / "token"),
    }
    data.update(changes)
    return _parse(data)


@pytest.mark.parametrize(
    ("setting", "value", "other"),
    [
        ("credentials", "secrets/iam-admin.json", "iam.credentials_path"),
        ("token", "secrets/token", "iam.bootstrap_token_path"),
        ("ca", "ca.crt", "tls.ca_cert_path"),
        ("spelt differently", "secrets/./iam-admin.json", "iam.credentials_path"),
    ],
)
def test_the_textfile_on_another_settings_file_is_refused_by_the_model(
    join_config: dict[str, Any], tmp_path: Path, setting: str, value: str, other: str
) -> None:
    tls = {"enabled": True, "ca_cert_path": str(tmp_path / "ca.crt")}
    with pytest.raises(ConfigError, match="are the same file") as caught:
        _config(join_config, tmp_path, prometheus_textfile=str(tmp_path / value), tls=tls)
    assert other in caught.value.message and "prometheus_textfile" in caught.value.message


def test_credentials_on_the_bootstrap_token_is_refused_by_the_model(
    join_config: dict[str, Any], tmp_path: Path
) -> None:
    data = dict(join_config)
    data["iam"] = {"credentials_path": "/s/t", "bootstrap_token_path": "/s//t"}
    with pytest.raises(ConfigError, match="iam.credentials_path and iam.bootstrap_token_path are the same file"):
        _parse(data)


def test_a_certificate_and_its_key_in_one_file_are_fine(join_config: dict[str, Any], tmp_path: Path) -> None:
    pem = str(tmp_path / "node.pem")
    tls = {"enabled": True, "ca_cert_path": str(tmp_path / "ca"), "node_cert_path": pem, "node_key_path": pem}
    cfg = _config(join_config, tmp_path, tls=tls)
    assert pathroles.clash(cfg, tmp_path / "cluster-config.json", tmp_path / "state") is None


@pytest.mark.parametrize("marker", [".iam-initialized", ".chainfire-joined", ".iam.lock", ".flaredb-joined.leaving"])
def test_credentials_at_a_state_file_is_refused_at_run_time(
    join_config: dict[str, Any], tmp_path: Path, marker: str
) -> None:
    state = tmp_path / "state"
    data = dict(join_config)
    data["iam"] = {"credentials_path": str(state / marker)}
    cfg = _parse(data)  # the model cannot see the state dir

    with pytest.raises(ConfigError) as caught:
        pathroles.refuse_clash(cfg, tmp_path / "cluster-config.json", state)
    assert f"iam.credentials_path and {marker} in the state dir are the same file" in caught.value.message


def test_the_textfile_through_a_link_onto_the_config_is_refused(join_config: dict[str, Any], tmp_path: Path) -> None:
    config_path = tmp_path / "cluster-config.json"
    config_path.write_text("{}")
    link = tmp_path / "metrics.prom"
    link.symlink_to(config_path)
    cfg = _config(join_config, tmp_path, prometheus_textfile=str(link))

    problem = pathroles.clash(cfg, config_path, tmp_path / "state")

    assert problem is not None and "prometheus_textfile and the config file are the same file" in problem


def test_a_hard_link_is_the_same_file(join_config: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    creds = tmp_path / "secrets" / "iam-admin.json"
    creds.write_text("{}")
    os.link(creds, tmp_path / "metrics.prom")
    cfg = _config(join_config, tmp_path, prometheus_textfile=str(tmp_path / "metrics.prom"))

    problem = pathroles.clash(cfg, None, None)

    assert problem is not None and "iam.credentials_path and prometheus_textfile" in problem


def test_a_link_made_after_the_start_is_refused_where_the_write_happens(
    join_config: dict[str, Any], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cfg = _config(join_config, tmp_path, prometheus_textfile=str(tmp_path / "metrics.prom"))
    pathroles.refuse_clash(cfg, tmp_path / "cluster-config.json", state)  # fine at the start
    (state / ".chainfire-joined").write_text("marker")
    (tmp_path / "metrics.prom").symlink_to(state / ".chainfire-joined")

    with pytest.raises(MarkerError, match="not written: prometheus_textfile and .chainfire-joined in the state dir"):
        pathroles.refuse_write(cfg, "prometheus_textfile", tmp_path / "cluster-config.json", state)


def test_distinct_files_pass(join_config: dict[str, Any], tmp_path: Path) -> None:
    cfg = _config(join_config, tmp_path, prometheus_textfile=str(tmp_path / "metrics.prom"))
    assert pathroles.clash(cfg, tmp_path / "cluster-config.json", tmp_path / "state") is None
