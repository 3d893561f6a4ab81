"""benchmarks.package's parts that run without the musicnn venv: the clips, the medians."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.package.clips import CLIP_S, make_clips
from benchmarks.package.report import agreement, summarize
from tagging.audio import probe


def test_the_clips_are_real_recordings_of_29_1_s(tmp_path) -> None:
    clips = make_clips(tmp_path)
    assert len(clips) == 4
    for clip in clips:
        info = probe(clip)
        assert info.duration == pytest.approx(CLIP_S, abs=0.3), clip.name


def test_the_ratio_is_the_median_of_per_round_ratios() -> None:
    rounds = [
        {"package": 4.0, "a@1": 6.0},
        {"package": 2.0, "a@1": 2.0},
        {"package": 5.0, "a@1": 6.0},
    ]
    s = summarize(rounds, "package")["sides"]["a@1"]
    assert s["clips_per_s_median"] == 6.0  # medians of each side ...
    assert s["ratio_to_package_median"] == pytest.approx(1.2)  # ... and of the round ratios
    assert s["ratio_range"] == [1.0, 1.5]


def test_agreement_compares_ordered_top3_and_max_dp() -> None:
    labels = ["a", "b", "c", "d"]
    p = {"x": np.array([0.9, 0.8, 0.7, 0.1])}
    same = agreement(p, {"x": np.array([0.85, 0.8, 0.7, 0.2])}, labels)["x"]
    assert same["same_top3"] and same["max_abs_dp"] == pytest.approx(0.1)
    swapped = agreement(p, {"x": np.array([0.8, 0.9, 0.7, 0.1])}, labels)["x"]
    assert not swapped["same_top3"] and swapped["served_top3"] == ["b", "a", "c"]
