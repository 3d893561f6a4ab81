"""Signal building blocks of the generator: pitch, envelopes, filters, oscillators, placement."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal


def hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Frequency in Hz of a MIDI pitch (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def place(out: np.ndarray, start: int, sig: np.ndarray, gain: float = 1.0) -> None:
    """Add ``sig * gain`` into ``out`` at sample ``start`` (may be negative or run past the end)."""
    if start < 0:
        sig = sig[-start:]
        start = 0
    n = min(len(sig), len(out) - start)
    if n > 0:
        out[start : start + n] += gain * sig[:n]


def adsr(
    n: int, sr: int, attack: float, release: float, decay_tau: float | None = None
) -> np.ndarray:
    """Linear attack, optional exponential decay (time constant ``decay_tau``), linear release."""
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / max(attack, 1e-4))
    if decay_tau is not None:
        env *= np.exp(-t / decay_tau)
    r = min(n, int(release * sr))
    if r > 0:
        env[n - r :] *= np.linspace(1.0, 0.0, r)
    return env


@lru_cache(maxsize=64)
def _sos(kind: str, freq: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


def filt(
    x: np.ndarray, kind: str, freq: float | tuple[float, float], sr: int, order: int = 2
) -> np.ndarray:
    nyq = sr / 2 * 0.98
    if isinstance(freq, tuple):
        freq = (min(freq[0], nyq * 0.9), min(freq[1], nyq))
    else:
        freq = min(freq, nyq)
    return signal.sosfilt(_sos(kind, freq, sr, order), x)


def saw(phase: np.ndarray) -> np.ndarray:
    """Naive sawtooth from a phase in cycles (aliasing is tamed by the lowpass after it)."""
    return 2.0 * (phase - np.floor(phase)) - 1.0


def phase(
    freq: float, n: int, sr: int, vib_rate: float = 0.0, vib_depth: float = 0.0, ph0: float = 0.0
) -> np.ndarray:
    """Phase in cycles of a tone with optional vibrato (``vib_depth`` in semitones)."""
    if vib_depth <= 0.0:
        return ph0 + freq * np.arange(n) / sr
    t = np.arange(n) / sr
    # Vibrato fades in over 0.3 s, as players do.
    f = freq * 2.0 ** (
        vib_depth / 12.0 * np.sin(2 * np.pi * vib_rate * t) * np.minimum(1.0, t / 0.3)
    )
    return ph0 + np.cumsum(f) / sr


# ----------------------------------------------------------------------------------- the style
