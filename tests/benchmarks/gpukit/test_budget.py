"""A device call's room for a part: what travels is the tracked and the untracked files git
does not ignore (a real git repository)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchmarks.gpukit import budget


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_the_tree_is_tracked_and_untracked_files_but_not_ignored_ones(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("/.gpukit/\n")  # 10 bytes, untracked
    (tmp_path / "tracked.bin").write_bytes(bytes(1000))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.txt").write_bytes(bytes(50))
    (tmp_path / ".gpukit" / "1").mkdir(parents=True)
    (tmp_path / ".gpukit" / "1" / "part").write_bytes(bytes(5000))
    git(tmp_path, "add", "tracked.bin")
    assert budget.tree_bytes(tmp_path) == 1000 + 50 + 10
    (tmp_path / "tracked.bin").unlink()  # deleted but still in the index: nothing to send
    assert budget.tree_bytes(tmp_path) == 50 + 10
    assert budget.part_bytes(tmp_path, limit=10_000, margin=100) == 10_000 - 60 - 100
