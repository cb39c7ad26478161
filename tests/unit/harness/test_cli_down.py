"""`cluster-test down` tears a kept cluster down through `netns.delete_netns` (the fabric's own
teardown, which waits for the killed processes to die) and says when that was not enough."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import cli
from harness.network import netns

NAMESPACE = "fba-4242-abcdef"


class FakeNetns:
    """`ip netns` as a set of names; `delete_netns` records its calls and drops the name."""

    def __init__(self, *, survivors: list[int] | None = None, sticks: bool = False) -> None:
        self.names = {NAMESPACE}
        self.deleted: list[str] = []
        self.survivors = survivors or []
        self.sticks = sticks  # `ip netns del` leaves the name (it failed)

    def list_netns(self) -> list[str]:
        return sorted(self.names)

    def delete_netns(self, name: str) -> list[int]:
        self.deleted.append(name)
        if not self.sticks:
            self.names.discard(name)
        return self.survivors


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "attach.json").write_text(json.dumps({"node01": {"ssh": "true"}}))
    (run / "cluster.json").write_text(json.dumps({"namespace": NAMESPACE}))
    return run


def down(monkeypatch: pytest.MonkeyPatch, run: Path, fake: FakeNetns) -> int:
    monkeypatch.setattr(netns, "list_netns", fake.list_netns)
    monkeypatch.setattr(netns, "delete_netns", fake.delete_netns)
    monkeypatch.setattr(cli, "interrupt_on_signals", lambda: None)  # leave pytest's handlers alone
    return cli.run(["--report", str(run), "down"])


def test_down_deletes_through_delete_netns_once(
    kept: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeNetns()
    assert down(monkeypatch, kept, fake) == cli.Exit.PASSED
    assert fake.deleted == [NAMESPACE], "down must use the one namespace teardown, not a copy of it"
    assert capsys.readouterr().out == f"cluster-test: removed namespace {NAMESPACE} and its processes\n"
    assert not (kept / "attach.json").exists()


def test_down_reports_processes_that_survived_sigkill(
    kept: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert down(monkeypatch, kept, FakeNetns(survivors=[4243, 4244])) == cli.Exit.INFRASTRUCTURE
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        f"cluster-test: infrastructure error: deleted namespace {NAMESPACE}, but pids 4243 4244 survived "
        "SIGKILL (stuck in the kernel?); see `ps -o pid,stat,wchan,cmd -p 4243 4244`\n"
    )
    assert not (kept / "attach.json").exists(), "the namespace is gone: a second down could do nothing more"


def test_down_keeps_attach_json_when_the_namespace_stays(
    kept: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert down(monkeypatch, kept, FakeNetns(sticks=True)) == cli.Exit.INFRASTRUCTURE
    assert capsys.readouterr().err == (
        f"cluster-test: infrastructure error: namespace {NAMESPACE} is still there after `ip netns del`; "
        "run `cluster-test down` again\n"
    )
    assert (kept / "attach.json").exists(), "kept so that `down` again retries"


def test_down_of_a_cluster_whose_namespace_is_gone_only_forgets_it(
    kept: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeNetns()
    fake.names.clear()
    assert down(monkeypatch, kept, fake) == cli.Exit.PASSED
    assert fake.deleted == [] and capsys.readouterr().out == ""
    assert not (kept / "attach.json").exists()
