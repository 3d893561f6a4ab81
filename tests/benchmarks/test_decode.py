"""The decoding benchmark runs and compares like with like (its figures are in reports/decoding)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from benchmarks.decode import DECODERS, table, time_decoders
from tests.paths import JAMENDO_44K_STEREO, MTAT_CLIP, REPO


def test_the_three_paths_decode_the_same_samples() -> None:
    for path in (MTAT_CLIP, JAMENDO_44K_STEREO):
        data = path.read_bytes()
        old, new, ffmpeg = (DECODERS[k](data) for k in ("old", "new", "ffmpeg"))
        np.testing.assert_allclose(new, old, atol=1e-5)
        np.testing.assert_allclose(ffmpeg, old, atol=1e-5)


def test_speed_table_has_every_path() -> None:
    rows = time_decoders({"j.mp3": JAMENDO_44K_STEREO.read_bytes()}, repeats=1)
    assert {"old_ms", "new_ms", "ffmpeg_ms", "new_over_old"} <= set(rows[0])
    assert "| j.mp3 |" in table(rows)


def test_memory_child_reports_peak_growth() -> None:
    cmd = [sys.executable, "-m", "benchmarks.decode", "--memory-child"]
    out = subprocess.run(
        [*cmd, str(MTAT_CLIP), "new"], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["decoded_mb"] == len(DECODERS["new"](MTAT_CLIP.read_bytes())) * 4 / 1e6
    assert 0 < got["peak_growth_mb"] < 100
