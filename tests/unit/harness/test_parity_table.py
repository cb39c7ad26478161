"""docs/harness-api.md's parity table against the `Parity:` docstring sections it is rendered
from: no drift, no cited test that does not exist, no driver verb without a row."""

from __future__ import annotations

import inspect
import re
from collections import Counter
from pathlib import Path

import pytest

from automation.spec.generated import block_text
from harness import docs_render
from harness.docs_render import GENERATED, parity_table_markdown
from harness.driver import Driver
from harness.machine.node import Node
from harness.parity import (
    DRIVER_GLOBALS,
    DRIVER_MACHINE_VERBS,
    DRIVER_METHOD_GLOBALS,
    ParityError,
    ParityRow,
    parity_rows,
    parse_parity,
)

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs/harness-api.md"
COMPAT_SCRIPTS = ROOT / "tests/vm/compat/scripts"
TEST_DEF = re.compile(r"^\s*(?:async\s+)?def (test_\w+)\(", re.MULTILINE)


def test_the_page_holds_what_the_docstrings_render() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, producer in GENERATED.items():
        shown = block_text(text, name)
        assert shown is not None, f"docs/harness-api.md lost its <!-- generated:{name} --> block"
        assert shown == producer(), (
            "docs/harness-api.md is stale: run `.venv/bin/python -m harness.docs_render --update docs/harness-api.md`"
        )


def test_every_cited_test_exists() -> None:
    known = {p.stem for p in COMPAT_SCRIPTS.glob("*.py")}
    for path in (ROOT / "tests").rglob("*.py"):
        known |= set(TEST_DEF.findall(path.read_text(encoding="utf-8")))
    missing = [(row.label, name) for row in parity_rows() for name in row.tests if name not in known]
    assert missing == []


def test_every_row_cites_a_test() -> None:
    assert [row.label for row in parity_rows() if not row.tests] == []


@pytest.mark.parametrize(("scope", "names"), [("machine", DRIVER_MACHINE_VERBS), ("script", DRIVER_GLOBALS)])
def test_every_driver_verb_and_global_has_exactly_one_row(scope: str, names: tuple[str, ...]) -> None:
    counts = Counter(verb for row in parity_rows() if row.scope == scope for verb in row.verbs)
    assert [name for name in names if counts[name] != 1] == []
    assert sorted(set(counts) - set(names)) == [], "a row names a verb the driver does not have"


def test_no_parity_section_outside_the_driver_verbs() -> None:
    """A section on a method that is not in the verb lists would never reach the table."""
    wanted = {Node: set(DRIVER_MACHINE_VERBS), Driver: set(DRIVER_METHOD_GLOBALS)}
    stray = [
        f"{owner.__name__}.{name}"
        for owner, verbs in wanted.items()
        for name, member in inspect.getmembers(owner, callable)
        if name not in verbs and parse_parity(inspect.getdoc(member), name) is not None
    ]
    assert stray == []


DOC_WITH_SECTION = """Do a thing.

    Raises:
        Boom: sometimes.

    Parity:
        Driver: does it
            slowly, `with
            spaces`
        Ours: does it fast
        Tests: test_a,
            test_b

    Trailing prose is not part of the section.
    """


def test_a_section_is_read_with_its_continuations() -> None:
    assert parse_parity(DOC_WITH_SECTION, "Node.x") == {
        "Driver": "does it slowly, `with spaces`",
        "Ours": "does it fast",
        "Tests": "test_a, test_b",
    }
    assert parse_parity("No section here.", "Node.x") is None
    assert parse_parity(None, "Node.x") is None


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("Parity:\n    Driver: a\n    Tests: t", "keys are Driver, Tests; want Driver, Ours, Tests"),
        ("Parity:\n    Ours: b\n    Driver: a\n    Tests: t", "keys are Ours, Driver, Tests"),
        ("Parity:\n    Driver: a\n    Driver: b", "'Driver' unknown or repeated"),
        ("Parity:\n    Driver: a\n    Theirs: b", "'Theirs' unknown or repeated"),
        ("Parity:\n  Driver: a", "neither 'Key: value'"),
    ],
)
def test_a_broken_section_fails_naming_the_verb(section: str, says: str) -> None:
    with pytest.raises(ParityError) as info:
        parse_parity(f"Doc.\n\n{section}\n", "Node.x")
    assert str(info.value).startswith("Node.x: ") and says in str(info.value)


def test_a_pipe_in_a_fact_stays_inside_its_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    row = ParityRow("machine", ("x",), label="`x(a)`", driver="`a | b`", ours="c", tests=("test_x", "simple"))
    monkeypatch.setattr(docs_render, "parity_rows", lambda: [row])
    assert parity_table_markdown().splitlines()[-1] == r"| `x(a)` | `a \| b` | c | `test_x`, `simple` |"
