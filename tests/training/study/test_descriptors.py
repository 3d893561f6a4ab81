"""Audio descriptors on signals whose answer is known (sines, noise, click trains)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tagging.audio import decode, encode_mp3
from tagging.constants import SAMPLE_RATE
from training.study.descriptors import DESCRIPTOR_NAMES, compute_descriptors

SR = SAMPLE_RATE


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_sine_centroid_is_its_frequency(freq: float) -> None:
    d = compute_descriptors(0.5 * np.sin(2 * np.pi * freq * _t(3)))
    assert d["centroid"] == pytest.approx(freq, rel=0.02)
    assert d["rolloff"] == pytest.approx(freq, rel=0.05)
    assert d["zcr"] == pytest.approx(2 * freq / SR, rel=0.02)
    assert d["rms"] == pytest.approx(0.5 / math.sqrt(2), rel=0.02)
    assert set(d) == set(DESCRIPTOR_NAMES)


def test_sine_through_mp3_keeps_its_centroid(tmp_path: Path) -> None:
    encode_mp3(0.5 * np.sin(2 * np.pi * 1000 * _t(3)), tmp_path / "sine.mp3")
    d = compute_descriptors(decode(tmp_path / "sine.mp3"))
    assert d["centroid"] == pytest.approx(1000, rel=0.03)


def test_noise_is_flat_and_sine_is_not() -> None:
    noise = compute_descriptors(0.3 * np.random.default_rng(0).standard_normal(3 * SR))
    sine = compute_descriptors(0.5 * np.sin(2 * np.pi * 440 * _t(3)))
    assert noise["flatness"] > 0.4
    assert sine["flatness"] < 0.01
    assert noise["centroid"] == pytest.approx(SR / 4, rel=0.05)  # white: centre of the band
    assert noise["onset_rate"] < 1.0  # stationary noise has (almost) no onsets


@pytest.mark.parametrize("rate", [1.0, 2.0, 4.0, 6.0])
def test_click_train_onset_rate(rate: float) -> None:
    x = 0.005 * np.random.default_rng(1).standard_normal(10 * SR)
    x[(np.arange(0.25, 10, 1 / rate) * SR).astype(int)] += 1.0
    d = compute_descriptors(x)
    assert d["onset_rate"] == pytest.approx(rate, rel=0.1)
    if rate == 2.0:  # 2 clicks/s = 120 BPM, the middle of the tempo range
        assert d["tempo_bpm"] == pytest.approx(120, rel=0.03)
        assert d["tempo_strength"] > 0.5


def test_descriptors_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="too short"):
        compute_descriptors(np.zeros(100))
    with pytest.raises(ValueError, match="NaN"):
        compute_descriptors(np.full(4000, np.nan))
