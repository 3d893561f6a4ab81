"""Pitched note sounds: plucked and bowed strings, piano, winds, synthesizers, voice, organ, pads."""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from training.data.synth.dsp import adsr, filt, hz, phase, saw
from training.data.synth.frame import ClipFrame


class Instruments:
    """One clip's instruments; each method returns one note ``(samples,)`` of ``midi`` for ``dur`` s.

    Noise and detuning draw from the clip's stream; the pluck's excitation from the song's timbre
    stream (cached per pitch, so a song's guitar keeps its sound).
    """

    def __init__(self, frame: ClipFrame) -> None:
        self.sr = frame.sr
        self.s = frame.s
        self.rng = frame.rng
        self.timbre = frame.timbre
        self._pluck_cache: dict[tuple[int, float], np.ndarray] = {}

    def pluck(self, midi: int, dur: float, bright: float = 0.6) -> np.ndarray:
        """Karplus-Strong plucked string (Karplus & Strong 1983) via ``lfilter``; cached per pitch."""
        key = (midi, bright)
        if key not in self._pluck_cache:
            sr = self.sr
            period = sr / float(hz(midi))
            ni = int(math.floor(period))
            frac = period - ni  # two-tap loop filter weights give the fractional delay
            t60 = 2.5 * (220.0 / float(hz(midi))) ** 0.4
            rho = 10 ** (-3.0 / (t60 * float(hz(midi))))
            length = self.s(2.0)
            burst = self.timbre.uniform(-1, 1, ni)
            burst = signal.lfilter([bright], [1, -(1 - bright)], burst)  # softer pluck = darker
            x = np.zeros(length)
            x[:ni] = burst - burst.mean()
            a = np.zeros(ni + 2)
            a[0] = 1.0
            a[ni] = -rho * (1 - frac)
            a[ni + 1] = -rho * frac
            y = signal.lfilter([1.0], a, x)
            self._pluck_cache[key] = y / (np.max(np.abs(y)) + 1e-9)
        y = self._pluck_cache[key]
        n = min(len(y), self.s(dur))
        return y[:n] * adsr(n, self.sr, 0.001, 0.03)

    def piano(self, midi: int, dur: float) -> np.ndarray:
        """Struck string: inharmonic partials f_k = k f0 sqrt(1 + B k^2), hammer noise, decay."""
        f0 = float(hz(midi))
        n = self.s(min(dur + 0.3, 3.0))
        t = np.arange(n) / self.sr
        k = np.arange(1, 9)[:, None]  # (8, 1) partials
        fk = k * f0 * np.sqrt(1 + 4e-4 * k**2)
        ok = fk[:, 0] < self.sr / 2 * 0.9
        tau = 1.2 * (261.0 / f0) ** 0.5 / k**0.8  # higher partials die faster
        amp = 1.0 / k**1.2
        y = np.sum((amp * np.sin(2 * np.pi * fk * t + k) * np.exp(-t / tau))[ok], axis=0)
        hammer = self.rng.standard_normal(self.s(0.012)) * np.linspace(1, 0, self.s(0.012))
        y[: len(hammer)] += 0.3 * filt(hammer, "highpass", 1500.0, self.sr)
        return y * adsr(n, self.sr, 0.002, min(0.15, dur))

    def bowed(self, midi: int, dur: float, voices: int = 3, attack: float = 0.25) -> np.ndarray:
        """Bowed string section: detuned sawtooths with vibrato and a slow attack (lowpassed later)."""
        n = self.s(dur + 0.2)
        f0 = float(hz(midi))
        y = np.zeros(n)
        for _ in range(voices):
            det = 2 ** (self.rng.normal(0, 0.08) / 12)
            ph = phase(f0 * det, n, self.sr, self.rng.uniform(4.8, 6.2), 0.18, self.rng.random())
            y += saw(ph)
        return y / voices * adsr(n, self.sr, attack, 0.25)

    def wind(self, midi: int, dur: float, kind: str) -> np.ndarray:
        """Woodwind-like: few harmonics (odd for clarinet), breath noise, soft attack."""
        n = self.s(dur + 0.05)
        f0 = float(hz(midi))
        ph = phase(f0, n, self.sr, 5.0, 0.05 if kind != "clarinet" else 0.0)
        harm = {
            "flute": [1, 0.25, 0.06],
            "clarinet": [1, 0, 0.45, 0, 0.25, 0, 0.12],
            "oboe": [1, 0.8, 0.6, 0.5, 0.3, 0.2],
        }[kind]
        y = sum(
            a * np.sin(2 * np.pi * (i + 1) * ph)
            for i, a in enumerate(harm)
            if a and (i + 1) * f0 < self.sr / 2.2
        )
        breath = filt(self.rng.standard_normal(n), "bandpass", (f0, min(4 * f0, 7000.0)), self.sr)
        return (y + 0.04 * breath) * adsr(n, self.sr, 0.03, 0.06)

    def synth_note(
        self, midi: int, dur: float, wave: str, cutoff: float, env_tau: float
    ) -> np.ndarray:
        """Detuned saw/square pair; a filter envelope = crossfade bright -> dark (decaying env)."""
        n = self.s(dur)
        f0 = float(hz(midi))
        ph1 = phase(f0 * 1.004, n, self.sr)
        ph2 = phase(f0 * 0.996, n, self.sr, ph0=0.3)
        if wave == "square":
            raw = np.sign(np.sin(2 * np.pi * ph1)) + np.sign(np.sin(2 * np.pi * ph2))
        else:
            raw = saw(ph1) + saw(ph2)
        bright = filt(raw, "lowpass", cutoff * 4, self.sr)
        dark = filt(raw, "lowpass", cutoff, self.sr)
        env = np.exp(-np.arange(n) / self.sr / env_tau)
        return (env * bright + (1 - env) * dark) * 0.5 * adsr(n, self.sr, 0.003, 0.02)

    def voice(self, midi: int, dur: float) -> np.ndarray:
        """Vowel-like formant tone: glottal sawtooth with vibrato through three formant bandpasses."""
        vowels = [
            (730, 1090, 2440),
            (530, 1840, 2480),
            (270, 2290, 3010),
            (570, 840, 2410),
            (300, 870, 2240),
        ]
        f1, f2, f3 = vowels[int(self.rng.integers(len(vowels)))]
        n = self.s(dur + 0.1)
        src = saw(phase(float(hz(midi)), n, self.sr, self.rng.uniform(5, 6), 0.12))
        y = sum(
            g * filt(src, "bandpass", (f * 0.85, f * 1.15), self.sr)
            for f, g in ((f1, 1.0), (f2, 0.6), (f3, 0.3))
        )
        return y * adsr(n, self.sr, 0.08, 0.1)

    def organ(self, midi: int, dur: float) -> np.ndarray:
        """Drawbar organ: a few sine harmonics with a light tremolo."""
        n = self.s(dur)
        ph = phase(float(hz(midi)), n, self.sr)
        y = sum(
            a * np.sin(2 * np.pi * h * ph)
            for h, a in ((0.5, 0.5), (1, 1.0), (2, 0.6), (3, 0.4), (4, 0.3))
            if h * float(hz(midi)) < 7000
        )
        return (
            y
            * (1 + 0.04 * np.sin(2 * np.pi * 6.5 * np.arange(n) / self.sr))
            * adsr(n, self.sr, 0.01, 0.03)
        )

    def mallet(self, midi: int, dur: float) -> np.ndarray:
        """Marimba-like bar: a decaying fundamental and a short inharmonic overtone."""
        n = self.s(min(dur + 0.3, 1.2))
        t = np.arange(n) / self.sr
        f0 = float(hz(midi))
        return np.sin(2 * np.pi * f0 * t) * np.exp(-t / 0.35) + 0.3 * np.sin(
            2 * np.pi * 3.93 * f0 * t
        ) * np.exp(-t / 0.05)

    def pad(self, midi: int, dur: float) -> np.ndarray:
        """Soft pad: three detuned sines and an octave, slow attack and release."""
        n = self.s(dur + 0.8)
        f0 = float(hz(midi))
        y = sum(
            np.sin(2 * np.pi * phase(f0 * d, n, self.sr, ph0=self.rng.random()))
            for d in (0.997, 1.0, 1.003)
        )
        y = y + 0.2 * np.sin(2 * np.pi * phase(2 * f0, n, self.sr))
        return y / 3 * adsr(n, self.sr, min(1.2, dur / 2), 0.8)
