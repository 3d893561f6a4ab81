"""The master chain of a clip: phrase dynamics, room reverb, highpass, loudness, soft limiter."""

from __future__ import annotations

import numpy as np
from scipy import signal

from training.data.synth.dsp import filt
from training.data.synth.frame import ClipFrame


def _dynamics(f: ClipFrame, mix: np.ndarray) -> None:
    """Crescendo/decrescendo phrases (orchestral dynamics), in place."""
    t = np.arange(f.n) / f.sr
    mix *= 0.55 + 0.45 * np.sin(2 * np.pi * t / f.rng.uniform(8, 16) + f.rng.uniform(0, 6.3))


def _reverb(f: ClipFrame, mix: np.ndarray) -> np.ndarray:
    """Light reverb: convolution with exponentially decaying noise (a synthetic room)."""
    st, sr = f.style, f.sr
    m = f.s(st.reverb_s)
    ir = f.timbre.standard_normal(m) * np.exp(-np.arange(m) / sr / (st.reverb_s / 6.9))
    ir = filt(ir, "lowpass", 5000.0, sr) / np.sqrt(np.sum(ir**2) + 1e-12)
    wet = signal.oaconvolve(mix, ir)[: f.n]
    return (1 - st.reverb_wet) * mix + st.reverb_wet * wet


def _soft_limit(y: np.ndarray) -> None:
    """Peaks above 0.45 compressed smoothly below 0.8, in place: headroom for the MP3 coder's
    overshoot (decoded peaks stay below 1.0)."""
    over = np.abs(y) > 0.45
    y[over] = np.sign(y[over]) * (0.45 + 0.35 * np.tanh((np.abs(y[over]) - 0.45) / 0.35))


def master(f: ClipFrame, mix: np.ndarray) -> np.ndarray:
    """The finished clip (float32) at the style's loudness; ``mix`` may be changed in place."""
    if f.style.dynamics:
        _dynamics(f, mix)
    y = _reverb(f, mix)
    y = filt(y, "highpass", 30.0, f.sr)  # no DC / subsonic rumble
    rms = float(np.sqrt(np.mean(y**2)))
    if rms < 1e-8:
        raise RuntimeError("rendered silence (bug in the style table)")
    y *= 10 ** (f.style.loudness_db / 20) / rms
    _soft_limit(y)
    return y.astype(np.float32)
