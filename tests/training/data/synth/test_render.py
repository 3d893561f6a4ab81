"""Synthetic MTAT audio: the latent tags are audible (tempo tags in onsets, techno in noise)."""

from __future__ import annotations

import numpy as np
from scipy import signal

from tagging.constants import SAMPLE_RATE
from training.data.synth import render_clip


def _onset_rate(y: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Spectral-flux onsets per second (unit-RMS signal, absolute peak threshold)."""
    y = y / (np.sqrt(np.mean(y**2)) + 1e-9)
    _, _, z = signal.stft(y, sr, nperseg=512, noverlap=512 - 160)
    flux = np.maximum(np.diff(np.log1p(10 * np.abs(z)), axis=1), 0).mean(0)
    peaks, _ = signal.find_peaks(flux, height=0.04, distance=5)
    return len(peaks) / (len(y) / sr)


def _flatness(y: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    _, p = signal.welch(y, sr, nperseg=2048)
    return float(np.exp(np.mean(np.log(p + 1e-20))) / np.mean(p))


def test_tempo_tags_change_onset_rate() -> None:
    rates = {"slow": [], "fast": []}
    for tempo in rates:
        for other in ((), ("guitar",), ("piano",), ("drums",)):
            for song in range(3):
                rates[tempo].append(_onset_rate(render_clip((*other, tempo), 5, song, 0, 6.0)))
    slow, fast = float(np.mean(rates["slow"])), float(np.mean(rates["fast"]))
    assert fast > 3 * slow + 1.0, (slow, fast)


def test_techno_is_noisier_than_classical() -> None:
    techno = [_flatness(render_clip(("techno", "electronic"), 6, s, 0, 6.0)) for s in range(4)]
    classical = [_flatness(render_clip(("classical", "strings"), 6, s, 0, 6.0)) for s in range(4)]
    assert min(techno) > 3 * max(classical), (techno, classical)
