"""The `Parity:` docstring sections (harness.parity) and the docs/harness-api.md table rendered
from them."""

from __future__ import annotations

import pytest

from harness.parity import ParityError, parse_parity

DOC_WITH_SECTION = '''Do a thing.

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
    '''


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
