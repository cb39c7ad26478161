"""Break 12, K10's kind beyond the IAM: an answer that came but could not be read (over 1 MiB)
proves the request reached the peer, so a write it answered may have taken effect. Only
timeouts and resets counted: a leave whose DELETE was answered with a body over 1 MiB put the
marker back as if no DELETE had taken effect."""

from __future__ import annotations

from automation.spec.exitcodes import ExitCode
from automation.spec.markers import leaving_name

from .conftest import NODE_ID, Fba, Node
from .expect import JOINED, markers_in
from .fakes import Answer

JOIN = ("join", "--service", "chainfire")
LEAVE = ("leave", "--service", "chainfire")


def test_a_delete_answered_with_a_body_over_1_mib_may_have_taken_effect(fba: Fba, node: Node) -> None:
    leader = node.leader()
    fba.write_config(node.config(join={"deadline_s": 3}))
    assert fba.run(*JOIN).rc == ExitCode.OK
    huge = Answer(200, {"removed": {"id": NODE_ID}, "audit": ["x" * 1000] * 1100})
    leader.script("DELETE", f"/admin/member/{NODE_ID}", huge, repeat_last=True)

    result = fba.run(*LEAVE)

    assert result.rc == ExitCode.FAILED, result.describe()
    assert markers_in(fba.state_dir) == [leaving_name(JOINED)]  # not trusted: the next join re-reads
    assert result.with_message("Markers left aside", "WARN"), result.describe()
    assert not result.with_message("Markers restored")
