"""python -m benchmarks.serving: a smoke run end to end, and flags refused before anything starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.serving.cli import parse_args
from tests.paths import REPO


def test_bench_smoke_prints_a_json_last_line(models_dir: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "benchmarks.serving", "--smoke", "--models-dir", str(models_dir)]
    cmd += ["--providers", "cpu"]
    out = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("clips_per_s", "p50_ms", "p99_ms", "floor_clips_per_s", "overhead_ratio"):
        assert isinstance(last[key], float) and last[key] > 0, key
    assert last["peak_rss_mb"] > 50 and last["rss_after_mb"] > 0
    assert "onnx_vs_torch" in last and last["onnx_vs_torch"] is None  # no torch twin: skipped
    assert "not in training.models" in last["models"]["beta"]["torch"]["note"]
    level = last["by_concurrency"]["1"]
    assert level["requests"] == 4 and level["errors"] == {}
    assert level["mean_batch"] >= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--concurrency", "1,x"], "takes integers"),
        (["--requests", "0"], "must be >= 1"),
        (["--floor-requests", "-3"], "--floor-requests must be >= 1"),
        (["--inference-threads", "-1"], "--inference-threads: Input should be greater"),
        (["--max-batch", "-2", "--batch-wait-ms", "-1"], "--max-batch: .*; --batch-wait-ms"),
    ],
)
def test_bench_rejects_bad_arguments_before_starting_anything(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
