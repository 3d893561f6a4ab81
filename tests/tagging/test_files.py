"""tagging.files: a write replaces the whole file or leaves the old one, with no temporary file
left behind and a normal file mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

from tagging.files import atomic_open, atomic_write_bytes, atomic_write_text, atomic_write_with


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_writes_replace_the_content_and_create_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.txt"
    atomic_write_text(path, "first\r\nline ü\n")
    assert path.read_bytes() == "first\r\nline ü\n".encode()  # no newline translation
    atomic_write_bytes(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    x = np.arange(12, dtype=np.int16).reshape(3, 4)
    atomic_write_with(path, lambda f: np.save(f, x))
    np.testing.assert_array_equal(np.load(path), x)
    assert os.listdir(path.parent) == ["out.txt"]


def test_a_new_file_gets_a_normal_mode_and_a_replaced_one_keeps_its_own(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.json"
    atomic_write_text(fresh, "{}")
    assert _mode(fresh) == 0o666 & ~_umask()  # not mkstemp's 0600
    kept = tmp_path / "kept.sh"
    kept.write_text("old")
    kept.chmod(0o751)
    atomic_write_text(kept, "new")
    assert kept.read_text() == "new" and _mode(kept) == 0o751
    atomic_write_bytes(kept, b"newer")
    assert _mode(kept) == 0o751
    with atomic_open(kept, mode=0o640) as f:
        f.write(b"explicit")
    assert _mode(kept) == 0o640


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("old content")

    def half_then_fail(f: BinaryIO) -> None:
        f.write(b"half of the new")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        atomic_write_with(path, half_then_fail)
    with pytest.raises(KeyboardInterrupt), atomic_open(path) as f:
        f.write(b"interrupted")
        raise KeyboardInterrupt
    assert path.read_text() == "old content"
    assert os.listdir(tmp_path) == ["results.csv"]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "never.bin"
    with pytest.raises(ValueError, match="no"):
        atomic_write_with(path, lambda f: (f.write(b"x"), int("no")))
    assert os.listdir(tmp_path) == []
