"""The musicnn package in its own venv, loaded once, tagging the files it is sent over a pipe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from benchmarks.serving.clips import REPO

SCRIPT = REPO / "scripts" / "bench_musicnn_package.py"


class PackageWorker:
    """``PYTHON scripts/bench_musicnn_package.py --serve`` as a subprocess (stderr -> ``log``)."""

    def __init__(self, python: Path, log: Path, model: str = "MTT_musicnn") -> None:
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [str(python), str(SCRIPT), "--serve", "--model", model],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        ready = self._answer()
        self.labels: list[str] = ready["labels"]
        self.tensorflow: str = ready["tensorflow"]
        self.model_load_s: float = ready["model_load_s"]

    def _answer(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the musicnn package worker exited; see {self._log.name}")
        return json.loads(line)

    def tag(self, path: Path) -> np.ndarray:
        """``(50,)`` clip probabilities of ``path`` (the mean of its 3-s patches)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        return np.asarray(self._answer()["probabilities"], dtype=np.float32)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
