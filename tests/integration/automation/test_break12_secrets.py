"""Break 12: secrets that are not in a field named secret (K4: a webhook whose URL is its
credential), and config errors that quoted what they refused (K5)."""

from __future__ import annotations

import pytest

from .conftest import Fba, Node, Servers
from .fakes import Answer, error

HOOK_KEY = "XyZ9sEcReTpAtH0123456789abcd"
HOOK_PATH = f"/services/T0001/B0002/{HOOK_KEY}"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ((Answer(204),), "Health summary sent"),
        ((error(404, f"Cannot POST {HOOK_PATH}"),), "Could not send the health summary"),
        ((error(500, f"no_service {HOOK_KEY}"), error(404, "no_team")), "Could not send the health summary"),
    ],
    ids=["sent", "revoked-echoing-the-path", "down-echoing-the-key"],
)
def test_a_webhook_whose_url_is_its_credential_is_never_logged(
    fba: Fba, node: Node, servers: Servers, answers: tuple[Answer, ...], message: str
) -> None:
    node.serve_members()
    node.list_self()
    hook = servers.start("hook")
    hook.script("POST", HOOK_PATH, *answers, repeat_last=True)
    fba.write_config(node.config(notify_url=f"{hook.url}{HOOK_PATH}", notify_attempts=2))

    result = fba.run("health-report")

    assert hook.requests_to("POST", HOOK_PATH), result.describe()  # the hook was called
    assert result.with_message(message), result.describe()
    for piece in (HOOK_KEY, "T0001/B0002", HOOK_KEY[:8], HOOK_KEY[-8:]):
        assert piece not in result.output, result.describe()
    assert f"{hook.url}/..." in result.output  # said where, without the credential


def test_a_token_in_the_webhooks_query_is_never_logged(fba: Fba, node: Node, servers: Servers) -> None:
    node.serve_members()
    node.list_self()
    hook = servers.start("hook")
    hook.script("POST", "/hooks", error(403, f"bad key {HOOK_KEY}"), repeat_last=True)
    fba.write_config(node.config(notify_url=f"{hook.url}/hooks?key={HOOK_KEY}&x=1", notify_attempts=1))

    result = fba.run("health-report")

    assert hook.requests_to("POST", "/hooks"), result.describe()
    assert HOOK_KEY[:8] not in result.output and HOOK_KEY[-8:] not in result.output, result.describe()
