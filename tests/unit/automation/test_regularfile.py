"""`automation.regularfile`: what every reader of a user-given or state path goes through.
Nothing here may block: a FIFO is refused, not opened for a writer to come."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automation import regularfile


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert regularfile.read(path, 10) == b"x" * 10


def test_a_symlink_to_a_regular_file_is_followed_unless_told(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    link = tmp_path / "link"
    link.symlink_to("f")
    assert regularfile.read(link, 100) == b"data"
    with pytest.raises(regularfile.NotARegularFile, match="a symlink, not a regular file"):
        regularfile.read(link, 100, follow_symlinks=False)


@pytest.mark.timeout(10)  # a regression to a blocking open fails here instead of hanging
@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (os.mkfifo, "a FIFO, not a regular file"),
        (os.mkdir, "a directory, not a regular file"),
        (lambda p: os.symlink("/dev/zero", p), "a character device, not a regular file"),
        (lambda p: os.symlink("/dev/null", p), "a character device, not a regular file"),
    ],
    ids=["fifo", "directory", "dev-zero", "dev-null"],
)
def test_anything_but_a_regular_file_is_refused(tmp_path: Path, make: object, phrase: str) -> None:
    path = tmp_path / "thing"
    make(path)  # type: ignore[operator]
    with pytest.raises(regularfile.NotARegularFile) as caught:
        regularfile.read(path, 100)
    assert regularfile.describe(caught.value) == phrase
    assert isinstance(caught.value, OSError) and caught.value.filename == str(path)
    with pytest.raises(regularfile.NotARegularFile):
        regularfile.check(path)


def test_more_than_the_limit_is_too_large_and_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"y" * 5000)
    with pytest.raises(regularfile.FileTooLarge, match="larger than 4096 bytes"):
        regularfile.read(path, 4096)


def test_missing_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        regularfile.read(tmp_path / "absent", 10)
