"""Driver `Machine` verbs this harness does not provide: each raises `UnsupportedVerb`.

A mixin of `Node`, so a script calling one gets one line naming the verb and what to use
instead rather than an `AttributeError`; `harness.driver.script_problem` finds the literal
calls before anything boots.
"""

from __future__ import annotations

from harness.errors import UnsupportedVerb
from harness.waits import Duration

__all__ = ["UNSUPPORTED_VERBS", "UnsupportedVerbs"]

_NO_DISPLAY = "nodes run without a display (-display none); use the console or SSH verbs"
UNSUPPORTED_VERBS: dict[str, str] = {
    "screenshot": _NO_DISPLAY,
    "get_screen_text": _NO_DISPLAY + " (no OCR)",
    "get_screen_text_variants": _NO_DISPLAY + " (no OCR)",
    "wait_for_text": _NO_DISPLAY + "; wait_for_console_text reads the serial console",
    "send_key": _NO_DISPLAY + "; send_console types on the serial console",
    "send_chars": _NO_DISPLAY + "; send_console types on the serial console",
    "wait_for_x": _NO_DISPLAY,
    "wait_for_window": _NO_DISPLAY,
    "get_window_names": _NO_DISPLAY,
    "get_tty_text": _NO_DISPLAY + " (no virtual terminals)",
    "wait_until_tty_matches": _NO_DISPLAY + " (no virtual terminals)",
    "dump_tty_contents": _NO_DISPLAY + " (no virtual terminals)",
    "shell_interact": "use `cluster-test ssh NODE` on a cluster kept with --keep",
    "console_interact": "use the serial attach command printed for --keep",
    "forward_port": "the user NIC forwards only SSH; reach services from the guest",
    "switch_root": "nodes boot straight into stage 2 (no initrd backdoor)",
}
"""Driver `Machine` verbs this harness does not provide, with what to use instead. Each is
a method raising `UnsupportedVerb`; `cluster-test --script` rejects a script naming one
before booting (exit 4)."""


class UnsupportedVerbs:
    """The driver's display, TTY, X11, interactive, port-forwarding and initrd verbs."""

    name: str

    def _unsupported(self, verb: str) -> UnsupportedVerb:
        return UnsupportedVerb(f"{self.name}.{verb}: not supported by this harness; {UNSUPPORTED_VERBS[verb]}")

    def screenshot(self, filename: str) -> None:
        raise self._unsupported("screenshot")

    def get_screen_text(self) -> str:
        raise self._unsupported("get_screen_text")

    def get_screen_text_variants(self) -> list[str]:
        raise self._unsupported("get_screen_text_variants")

    def wait_for_text(self, regex: str, timeout: Duration = 900) -> None:
        raise self._unsupported("wait_for_text")

    def send_key(self, key: str, delay: float | None = 0.01, log: bool = True) -> None:
        raise self._unsupported("send_key")

    def send_chars(self, chars: str, delay: float | None = 0.01) -> None:
        raise self._unsupported("send_chars")

    def wait_for_x(self, timeout: Duration = 900) -> None:
        raise self._unsupported("wait_for_x")

    def wait_for_window(self, regexp: str, timeout: Duration = 900) -> None:
        raise self._unsupported("wait_for_window")

    def get_window_names(self) -> list[str]:
        raise self._unsupported("get_window_names")

    def get_tty_text(self, tty: str) -> str:
        raise self._unsupported("get_tty_text")

    def wait_until_tty_matches(self, tty: str, regexp: str, timeout: Duration = 900) -> None:
        raise self._unsupported("wait_until_tty_matches")

    def dump_tty_contents(self, tty: str) -> None:
        raise self._unsupported("dump_tty_contents")

    def shell_interact(self, address: str | None = None) -> None:
        raise self._unsupported("shell_interact")

    def console_interact(self) -> None:
        raise self._unsupported("console_interact")

    def forward_port(self, host_port: int = 8080, guest_port: int = 80) -> None:
        raise self._unsupported("forward_port")

    def switch_root(self) -> None:
        raise self._unsupported("switch_root")
