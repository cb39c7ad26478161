"""The written contract names every endpoint and error string the stand-ins answer with."""

from __future__ import annotations

from pathlib import Path

import standins

TEXT = (Path(standins.__file__).parent / "openapi.yaml").read_text()


def test_openapi_lists_every_path_and_error() -> None:
    assert TEXT.startswith("openapi: 3.1.0")
    for path in (
        "/health:",
        "/admin/members:",
        "/admin/member/add:",
        "/admin/member/{id}:",
        "/kv:",
        "/kv/{key}:",
        "/users:",
        "/users/{name}:",
        "/tokens:",
    ):
        assert f"\n  {path}\n" in TEXT, path
    for error in (
        "already a member",
        "not the leader",
        "no quorum",
        "membership change in flight",
        "invalid token",
        "token expired",
        "user exists",
        "admin exists",
        "exists",
        "starting",
        "recovering",
    ):
        assert error in TEXT, error
