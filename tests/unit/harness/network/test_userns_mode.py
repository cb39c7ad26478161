"""Root or rootless: root keeps the /run/netns path and runs no rootless check; a host that
cannot do rootless says so in one line naming the setting; a fabric of either mode keeps its
interface. No namespace is made here (the integration tier does that, unprivileged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InfrastructureError, UsageError
from harness.network.fabric import Fabric
from harness.network.userns import MODE_ENV, check_rootless, search_path, select_mode


def sysctls(tmp_path: Path, **values: str) -> Path:
    for key, value in values.items():
        path = tmp_path / key.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return tmp_path


def everything(tool: str) -> str:
    return f"/usr/bin/{tool}"


def never(tool: str) -> str:
    raise AssertionError(f"root must not run the rootless check (looked up {tool})")


@pytest.fixture(autouse=True)
def _no_mode_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODE_ENV, raising=False)


def test_root_is_root_without_any_rootless_check(tmp_path: Path) -> None:
    off = sysctls(tmp_path, user__max_user_namespaces="0")
    assert select_mode(euid=0, sysctl=off, which=never) == "root"


def test_unprivileged_is_rootless_when_asked_and_the_host_allows_it(tmp_path: Path) -> None:
    ok = sysctls(tmp_path, kernel__unprivileged_userns_clone="1", user__max_user_namespaces="15000")
    assert select_mode("rootless", euid=1000, sysctl=ok, which=everything) == "rootless"


def test_unprivileged_auto_refuses_in_one_line_naming_the_opt_in(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError) as info:
        select_mode(euid=1000, sysctl=tmp_path, which=everything)
    assert "FBA_NET_MODE=rootless" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "bad", "fix"),
    [
        ("kernel.unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
        ("user.max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
        (
            "kernel.apparmor_restrict_unprivileged_userns",
            "1",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        ),  # fmt: skip
    ],
)
def test_disabled_user_namespaces_name_the_sysctl(tmp_path: Path, key: str, bad: str, fix: str) -> None:
    off = sysctls(tmp_path, **{key.replace(".", "__"): bad})
    with pytest.raises(InfrastructureError) as info:
        select_mode("rootless", euid=1000, sysctl=off, which=everything)
    message = str(info.value)
    assert f"{key} = {bad}" in message and fix in message and "\n" not in message


def test_a_missing_tool_names_its_package(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match=r"`nft` on PATH \(Debian package nftables\)"):
        check_rootless(sysctl=tmp_path, which=lambda tool: None if tool == "nft" else everything(tool))


def test_no_access_to_tun_is_named(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match="read-write .*missing-tun for taps"):
        check_rootless(sysctl=tmp_path, which=everything, tun=tmp_path / "missing-tun")


def test_forcing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InfrastructureError, match="network mode root needs euid 0"):
        select_mode("root", euid=1000, sysctl=tmp_path, which=everything)
    with pytest.raises(UsageError, match="expected root, rootless or auto"):
        select_mode("fast", euid=0)
    monkeypatch.setenv(MODE_ENV, "rootless")
    assert select_mode(euid=0, sysctl=tmp_path, which=everything) == "rootless"  # CI tests both as root
    assert select_mode("auto", euid=0, which=never) == "root"  # an explicit argument wins


def test_sbin_is_searched_for_an_unprivileged_path() -> None:
    assert search_path("/usr/bin:/bin").split(":") == ["/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"]
    assert search_path("/usr/sbin:/usr/bin") == "/usr/sbin:/usr/bin:/usr/local/sbin:/sbin"


def test_root_fabric_keeps_its_commands_and_rootless_needs_up() -> None:
    root = Fabric(prefix="fbunit", mode="root")
    assert root.exec_prefix == ("ip", "netns", "exec", root.name)
    rootless = Fabric(prefix="fbunit", mode="rootless")
    with pytest.raises(InfrastructureError, match="is not up"):
        rootless.exec_prefix  # noqa: B018
    with pytest.raises(InfrastructureError, match="is not up"):
        rootless.connect("127.0.0.1", 22, 1.0)
