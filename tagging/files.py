"""Atomic file writes: a reader, or a crash half-way, sees the old file or the whole new one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file to write that replaces ``path`` when the block ends without error.

    The data go to a unique temporary file in the same folder (so the rename stays on one file
    system), are flushed and fsynced, then ``os.replace`` d over ``path``; on any error the
    temporary file is removed and ``path`` is untouched. The new file gets ``mode`` (default: the
    old file's mode, else a normal file's mode under the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_edit(path: str | Path) -> Iterator[Path]:
    """A same-folder copy of the existing ``path`` to edit in place; replaces ``path`` when the
    block ends without error.

    The copy keeps the original's mode; after the block it is fsynced and ``os.replace`` d over
    ``path`` (then the folder is fsynced), so readers and a crash see the old file or the whole
    edited one. On any error (a full disk while copying, the edit failing, the rename failing)
    the copy is removed and ``path`` is untouched. The copy's name ends with ``path``'s suffix.
    """
    path = Path(path)
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            os.fchmod(out.fileno(), mode)
            shutil.copyfileobj(src, out, 1 << 20)
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (best effort: some file systems refuse a folder fsync)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (no newline translation)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Let ``write(f)`` fill the new file (e.g. ``np.save``), then replace ``path`` atomically."""
    with atomic_open(path) as f:
        write(f)
