"""Found by a sixth tester (break 11): an IPv6 link-local `leader_url` with a zone id
(`http://[fe80::1%25eth0]:2379`) validated, then every request failed "name resolution failed"
(H2). The validator and the transport judge URLs by one rule (`spec/urls.url_problem`), which
refuses a `%` in the host: one clear line, the documented invalid-configuration codes."""

from __future__ import annotations

import pytest

from automation.spec.exitcodes import ExitCode

from .conftest import Fba, Node

ZONED = "http://[fe80::1%25lo]:2379"


@pytest.mark.parametrize("url", [ZONED, "http://[::%25lo]:2379", "http://[::1%25lo]:2379"])
def test_a_zone_id_in_leader_url_is_refused_by_validate_and_every_command(fba: Fba, node: Node, url: str) -> None:
    config = node.config()
    config["leader_url"] = url
    fba.write_config(config)

    for argv, invalid in (
        (("config", "validate"), ExitCode.CONFIG_INVALID),  # `config validate`: 2 (its own table)
        (("join", "--service", "chainfire"), ExitCode.INVALID),
        (("health-report",), ExitCode.INVALID),
    ):
        result = fba.run(*argv)
        assert result.rc == invalid, result.describe()
        assert "zone id" in result.output and "leader_url" in result.output, result.describe()
        assert "name resolution" not in result.output and "Traceback" not in result.output, result.describe()


def test_a_zone_id_in_wait_healthy_url_is_a_usage_error(fba: Fba) -> None:
    result = fba.run("wait-healthy", "--url", ZONED + "/health", "--timeout", "2")

    assert result.rc == ExitCode.INVALID, result.describe()
    assert "zone id" in result.output and "name resolution" not in result.output, result.describe()
