"""How many bytes of kit one device call can carry: the call's limit less the working tree that
travels with it (tracked files and untracked files git does not ignore)."""

from __future__ import annotations

import subprocess
from pathlib import Path

MIB = 1 << 20
CALL_LIMIT = 64 * MIB  # the device tool's limit per call (its README, "Limits")
MARGIN = 1 * MIB  # at build time: for the part's manifest, and what the tree gains before the calls
MANIFEST_ROOM = 64 << 10  # at call time: the part's manifest (a few KiB)


def tree_bytes(repo: Path) -> int:
    """Bytes of the working tree a device call sends."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    names = {name for name in listed.decode().split("\0") if name}
    return sum((repo / n).stat().st_size for n in names if (repo / n).is_file())


def part_bytes(repo: Path, limit: int = CALL_LIMIT, margin: int = MARGIN) -> int:
    """The largest part that travels beside this working tree in one call."""
    return limit - tree_bytes(repo) - margin
