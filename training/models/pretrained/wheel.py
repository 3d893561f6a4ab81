"""Fetch the musicnn 0.1.0 wheel with pip and extract its MTAT checkpoints (no TensorFlow needed)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "musicnn==0.1.0"
CHECKPOINTS = ("MTT_musicnn", "MTT_vgg")
BUNDLE_FILES = (".index", ".data-00000-of-00001")
RESULT_FILE = "experiment.result"  # the test-set figures published with each checkpoint
LICENCE_MEMBER = "musicnn-0.1.0.dist-info/LICENSE.md"


class WheelFetchError(RuntimeError):
    """pip could not download the musicnn wheel, or the wheel lacks the checkpoints."""


def _complete(folder: Path) -> bool:
    files = (*BUNDLE_FILES, RESULT_FILE)
    return all((folder / name / f).is_file() for name in CHECKPOINTS for f in files)


def extract_checkpoints(wheel: str | Path, dest: str | Path) -> Path:
    """Extract ``MTT_musicnn/`` and ``MTT_vgg/`` bundles and the licence from ``wheel`` into ``dest``."""
    dest = Path(dest)
    wanted = [f"musicnn/{n}/{f}" for n in CHECKPOINTS for f in (*BUNDLE_FILES, RESULT_FILE)]
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        missing = [m for m in [*wanted, LICENCE_MEMBER] if m not in names]
        if missing:
            raise WheelFetchError(f"{wheel} lacks {missing}")
        for member in wanted:
            target = dest / member.removeprefix("musicnn/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(member))
        (dest / "LICENSE.md").write_bytes(z.read(LICENCE_MEMBER))
    return dest


def fetch_musicnn_checkpoints(cache_dir: str | Path) -> Path:
    """``cache_dir/musicnn-0.1.0`` holding ``MTT_musicnn/`` and ``MTT_vgg/`` (the ``source`` of
    the ``pons_*`` ports), downloading the wheel with ``python -m pip download`` if needed."""
    dest = Path(cache_dir) / "musicnn-0.1.0"
    if _complete(dest):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_REQUIREMENT, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(Path(tmp).glob("musicnn-0.1.0-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise WheelFetchError(
                f"`{' '.join(cmd[1:])}` failed (can pip reach a package registry?): "
                f"{(proc.stderr or proc.stdout).strip()[-800:]}"
            )
        return extract_checkpoints(wheels[0], dest)
