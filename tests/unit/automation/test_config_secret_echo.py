"""Break 12, K5: a config error never quotes a value that may be a secret: a token pasted into a
path field (or any field), a huge numeric `notify_token`, a key in a URL's path or query."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automation.configfile import parse
from automation.errors import ConfigError

SECRET = "SuperSecretTok3n-4242-abcdef"
BASE64 = "Qm9vdHN0cmFwVG9r/ZW5TZWNyZXQrQWJjZGVm+R2hp"


def _error(data: dict[str, Any] | bytes) -> ConfigError:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    return caught.value


def _said(err: ConfigError) -> str:
    return " | ".join([err.message, *err.problems])


@pytest.mark.parametrize(
    "change",
    [
        {"iam": {"bootstrap_token_path": SECRET}},
        {"iam": {"bootstrap_token_path": BASE64}},  # not absolute: it starts with Q
        {"iam": {"credentials_path": SECRET + "\n"}},
        {"tls": {"node_key_path": "hunter2hunter2"}},
        {"leader_url": f"http://10.0.1.1:2379?token={SECRET}"},
        {"leader_url": f"http://10.0.1.1:2379/{SECRET}"},
        {"leader_url": "http://10.0.1.1:2379/hunter2hunter2"},
        {"notify_url": f"http://10.0.1.9:99999/hooks/{SECRET}"},
        {"raft_addr": SECRET},
        {"initial_peers": [BASE64]},
        {"health": {"health_path": SECRET}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_secret_in_the_wrong_field_is_not_quoted(join_config: dict[str, Any], change: dict[str, Any]) -> None:
    data = {
        **join_config,
        **{k: {**join_config.get(k, {}), **v} if isinstance(v, dict) else v for k, v in change.items()},
    }
    said = _said(_error(data))
    for secret in (SECRET, BASE64, "hunter2hunter2"):
        assert secret[:10] not in said and secret[-10:] not in said, said


def test_a_huge_numeric_notify_token_is_not_quoted(join_config: dict[str, Any]) -> None:
    text = (
        json.dumps({**join_config, "notify_url": "https://hook.example/x"})[:-1]
        + ', "notify_token": 98765432109876543210}'
    )
    said = _said(_error(text.encode()))
    assert "98765432" not in said and "43210" not in said, said
    assert "notify_token: an integer of 20 digits is out of range (64-bit)" in said


@given(
    token=st.text(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_"), min_size=16, max_size=64
    ).filter(lambda t: any(c.islower() for c in t) and any(c.isupper() for c in t) and any(c.isdigit() for c in t))
)
@settings(max_examples=150, deadline=None)
def test_no_token_shaped_value_is_quoted_by_any_string_field(token: str) -> None:
    fields = {"raft_addr": token, "node_id": token, "leader_url": token, "initial_peers": [token], "bootstrap": token}
    said = _said(_error(fields))
    assert token[:12] not in said, said


def test_ordinary_mistakes_are_still_quoted(join_config: dict[str, Any]) -> None:
    said = _said(_error({**join_config, "raft_addr": "10.0.1.13"}))
    assert 'raft_addr: expected IPv4:port, got "10.0.1.13"' in said
